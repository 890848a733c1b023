"""The figure index: what each image shows, the command that made it, and what to observe."""
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FigureEntry:
    """One figure: where it is, what it shows, the command that made it, and what to observe, which
    the figure's module builds from `numbers`, the values the figure itself draws (viz/observe.py)."""

    path: Path
    shows: str
    command: str
    observe: str
    numbers: dict = field(default_factory=dict)


def write_index(entries: list[FigureEntry], out_dir: Path, title: str = "Figures", command: str = "make figures",
                extra: list[str] = ()) -> Path:
    """Write out_dir/index.md naming every figure, in the order the problem set asks for them,
    followed by the `extra` lines (links to other indexes)."""
    lines = [f"# {title}", "", f"Regenerate all of them with `{command}` (trained models are kept under checkpoints/).", ""]
    for entry in entries:
        name = Path(entry.path).name
        lines += [f"## {name}", "", f"![{name}]({name})", "", f"**Shows.** {entry.shows}", "",
                  f"**Made by.** `{entry.command}`", "", f"**What to observe.** {entry.observe}", ""]
    lines += list(extra)
    path = Path(out_dir) / "index.md"
    path.write_text("\n".join(lines))
    return path
