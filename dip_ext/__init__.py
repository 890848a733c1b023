"""Deep Image Prior, and its meeting with DDPM (the course's second assignment, dip-homework.md).

network.py (the paper's hourglass), images.py (test images, noise, masks), fit.py (the fitting
loop and its record), stopping.py (when to stop), progressive.py (diffusion-style targets and the
estimate they give), classical.py (scikit-image's denoisers), study.py (the stopping study);
commands: denoise.py (one image), run_study.py (make bench-dip).
"""
