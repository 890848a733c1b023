"""The figure index: what each image shows, the command that made it, and what to observe."""
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FigureEntry:
    path: Path
    shows: str
    command: str
    observe: str


def write_index(entries: list[FigureEntry], out_dir: Path) -> Path:
    """Write out_dir/index.md naming every figure, in the order the problem set asks for them."""
    lines = ["# Figures", "", "Regenerate all of them with `make figures` (models are cached in checkpoints/cache/).", ""]
    for entry in entries:
        name = Path(entry.path).name
        lines += [f"## {name}", "", f"![{name}]({name})", "", f"**Shows.** {entry.shows}", "",
                  f"**Made by.** `{entry.command}`", "", f"**What to observe.** {entry.observe}", ""]
    path = Path(out_dir) / "index.md"
    path.write_text("\n".join(lines))
    return path
