"""The project's layering, read from the source: commands -> figures -> library -> math, one way.

A command module is one that runs as a program (an `if __name__ == "__main__":` block) outside viz/;
viz's figure modules also run as programs but are imported by viz.all, so they form their own
layer. No module may import a command; library and math modules may not import viz; and the
import graph of the project's own modules has no cycle (lazy imports inside functions included).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mnist_ext", "dip_ext", "viz", "tools")


def project_modules() -> dict[str, Path]:
    files = list(ROOT.glob("*.py")) + [path for package in PACKAGES for path in (ROOT / package).glob("*.py")]
    return {".".join(path.relative_to(ROOT).with_suffix("").parts): path for path in files
            if path.name != "__init__.py"}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that `path` imports anywhere in its body (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def is_command(path: Path) -> bool:
    return "__main__" in path.read_text() and any(
        isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in ast.parse(path.read_text()).body)


def test_the_graph_reader_sees_real_imports():
    modules = project_modules()
    assert {"train", "training", "recipe", "samplers", "mnist_ext.recipe", "viz.all", "tools.bench"} <= set(modules)
    assert imports_of(modules["recipe"], modules) >= {"training", "ddpm", "gmm", "utils", "checkpoints"}
    assert is_command(modules["train"]) and is_command(modules["mnist_ext.evaluate"]) and not is_command(modules["training"])


def test_no_module_imports_a_command():
    modules = project_modules()
    commands = {name for name, path in modules.items() if is_command(path) and not name.startswith("viz.")}
    offenders = {name: sorted(imports_of(path, modules) & commands) for name, path in modules.items()}
    assert not {name: found for name, found in offenders.items() if found}


def test_library_does_not_import_figures():
    modules = project_modules()
    library = {name for name, path in modules.items() if not is_command(path) and not name.startswith(("viz.", "tools."))}
    offenders = {name: sorted(m for m in imports_of(modules[name], modules) if m.startswith("viz."))
                 for name in library}
    assert not {name: found for name, found in offenders.items() if found}


def test_no_import_cycle():
    modules = project_modules()
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            assert state.get(target) != "open", "import cycle: " + " -> ".join(path + [name, target])
            if target not in state:
                visit(target, path + [name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_every_module_imports():
    import importlib
    for name in project_modules():
        importlib.import_module(name)
