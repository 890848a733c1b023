"""The words of the figures' "what to observe" notes, chosen by the figures' own numbers.

A note that claims a direction, an order or a count must follow from the numbers the figure draws,
so a changed model cannot leave a false sentence behind: each figure collects its numbers, and its
`observations(numbers)` builds the note from them with these helpers (tested on numbers that go
either way).
"""
import math

import torch

from gmm import GMM


def trend(values: list[float], fmt: str = "{:.3f}", tolerance: float = 0.0) -> str:
    """What the sequence does: 'stays at about a' (all within `tolerance`), 'rises from a to b',
    'falls from a to b', or 'does not move one way (a, b, c)'."""
    shown = [fmt.format(v) for v in values]
    if max(values) - min(values) <= tolerance:
        return f"stays at about {fmt.format(sum(values) / len(values))}"
    steps = [b - a for a, b in zip(values, values[1:])]
    if all(step > 0 for step in steps):
        return f"rises from {shown[0]} to {shown[-1]}"
    if all(step < 0 for step in steps):
        return f"falls from {shown[0]} to {shown[-1]}"
    return f"does not move one way ({', '.join(shown)})"


def exact_mode_count(gmm: GMM, alpha_bar: float, points: int = 401) -> int:
    """How many modes the exact noised density q(x_t) has along the line through its two component
    means (where the modes of a two-component isotropic mixture lie)."""
    means, _ = gmm.noised_components(alpha_bar)
    start, end = means[0] - 0.5 * (means[1] - means[0]), means[1] + 0.5 * (means[1] - means[0])
    line = start + torch.linspace(0, 1, points, dtype=torch.float64)[:, None] * (end - start)
    density = gmm.density(line, alpha_bar)
    return int(((density[1:-1] > density[:-2]) & (density[1:-1] > density[2:])).sum())


def percent(value: float) -> str:
    return "nan" if math.isnan(value) else f"{100 * value:.1f}%"
