"""What the graded tests share: the mock denoiser (also used by tools/make_fixtures.py) and the comparison."""
import torch

TOL = dict(rtol=1e-6, atol=1e-8)


def close(actual, expected, what: str) -> None:
    """Compare in float64 within TOL; the failure says what was expected and what came back."""
    torch.testing.assert_close(actual.double(), expected.double(), **TOL,
                               msg=lambda m: f"{what}: expected {expected.tolist()}, got {actual.tolist()} ({m})")


class AffineDenoiser:
    """eps = 0.5 x_t + 0.1 (t + 1) + 2 y, null label 2: every input visibly changes the output."""
    null_label = 2

    def __call__(self, x_t, t, y):
        shape = (-1,) + (1,) * (x_t.dim() - 1)
        return 0.5 * x_t + 0.1 * (t + 1).to(x_t.dtype).reshape(shape) + 2.0 * y.to(x_t.dtype).reshape(shape)
