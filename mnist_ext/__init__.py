"""The MNIST extension: the same diffusion code on real digits (in progress: data and model)."""
