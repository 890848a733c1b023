"""Figure 9: classifier guidance beside classifier-free guidance, from the same starting noises.

    python -m viz.classifier_guidance [--n 1000] [--seed 0] [--label 0] [--weights 0 1 3]

Rows: classifier-free guidance of the learned model, epsbar = (1 + w) eps(y) - w eps(null);
classifier guidance of the learned unconditional model with the exact p(y | x_t) of the mixture;
the same with the learned noisy classifier (classifier.py). Columns: guidance weight w. Every
panel starts from the same n noises and draws the same z.
"""
import matplotlib.pyplot as plt
import torch

from gmm import PROBLEM_WEIGHTS, problem_gmm
from metrics import mode_statistics
from samplers import ClassifierGuidance, sample
from viz.index import FigureEntry
from viz.observe import percent
from viz.models import classifier_for, figure_parser, model_for, run
from viz.style import CLASS_COLOURS, pixel_axes, save

WEIGHTS = (0.0, 1.0, 3.0)


def make(out, n: int = 1_000, seed: int = 0, label: int = 0, weights=WEIGHTS, train_steps=None) -> FigureEntry:
    model, schedule = model_for(50, train_steps=train_steps)
    gmm = problem_gmm(n_samples=1)
    classifiers = {"exact p(y | x_t)": gmm.exact_classifier(schedule.alphas_cumprod),
                   "learned classifier": classifier_for(schedule.T, train_steps)}
    fig, axes = plt.subplots(3, len(weights), figsize=(3.3 * len(weights), 10), constrained_layout=True)
    numbers = {"label": label, "weights": list(weights), "in_mode": {"classifier-free": [], "exact": [], "learned": []}}
    for column, w in enumerate(weights):
        rows = [(model, w, f"classifier-free, w = {w:g}")]
        rows += [(ClassifierGuidance(model, classifier, schedule.alphas_cumprod, w), 0.0, f"classifier ({name}), w = {w:g}")
                 for name, classifier in classifiers.items()]
        for row, (denoiser, free_weight, title) in enumerate(rows):
            x = sample(denoiser, schedule, n, label=label, guidance_weight=free_weight,
                       generator=torch.Generator().manual_seed(seed)).squeeze(1)
            ax = axes[row, column]
            labels = gmm.classify(x)
            for k in (0, 1):
                ax.scatter(x[labels == k, 0], x[labels == k, 1], s=2, alpha=0.4, color=CLASS_COLOURS[k], rasterized=True)
            stats = mode_statistics(gmm, x)
            numbers["in_mode"][("classifier-free", "exact", "learned")[row]].append(stats.weights[label])
            ax.text(0.03, 0.03, f"{100 * stats.weights[label]:.1f}% in mode {label}\nstd {stats.stds[label]:.3f}",
                    transform=ax.transAxes, fontsize=8, va="bottom",
                    bbox=dict(boxstyle="round", facecolor="white", alpha=0.85, lw=0))
            pixel_axes(ax, title)
    fig.suptitle(f"Guiding toward label {label} from the same {n} starting noises", fontsize=11)
    save(fig, out)
    return FigureEntry(
        out, f"Samples guided toward label {label}: classifier-free guidance (top), classifier guidance with the exact "
             "posterior (middle) and with a learned noisy classifier (bottom), for guidance weights "
             f"{', '.join(f'{w:g}' for w in weights)}.",
        f"python -m viz.classifier_guidance --n {n} --seed {seed} --label {label} --weights "
        f"{' '.join(f'{w:g}' for w in weights)}",
        observations(numbers), numbers)


def observations(numbers: dict) -> str:
    """The note of this figure, from the share of samples in the label's mode in each panel."""
    label, weights, share = numbers["label"], numbers["weights"], numbers["in_mode"]

    def listed(row):
        return ", ".join(f"{percent(p)} at w = {w:g}" for w, p in zip(weights, share[row]))

    gap = max(abs(a - b) for a, b in zip(share["exact"], share["learned"]))
    return (f"The two kinds of guidance mean different things by w. Classifier-free guidance puts {listed('classifier-free')} "
            f"of its samples in mode {label}: at w = 0 it is already the conditional model. Classifier guidance with "
            f"the exact posterior puts {listed('exact')}: at w = 0 it is the unconditional model (the data has "
            f"{percent(PROBLEM_WEIGHTS[label])} in mode {label}), at w = 1 it is the conditional model (Bayes' rule on "
            f"the scores), above 1 it sharpens. The learned classifier's shares differ from the exact one's by "
            f"{gap:.3f} at most.")


if __name__ == "__main__":
    parser = figure_parser(__doc__, "classifier_guidance.png", 1_000)
    parser.add_argument("--label", type=int, choices=(0, 1), default=0)
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS))
    args = parser.parse_args()
    run(lambda: make(args.out, args.n, args.seed, args.label, tuple(args.weights), args.train_steps))
