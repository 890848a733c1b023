"""The MNIST extension: the same diffusion code on real digits (work in progress: data loading)."""
