"""Methods that plug into the DIP harnesses by name: a stopping rule (dip_ext.rules) or a start of
the reverse process (dip_ext.starts), written by a student in a file of their own.

    --rule lowest_residual=my_rules:lowest_residual      NAME=MODULE:FUNCTION (MODULE importable from here)
    --rule my_rules.py:lowest_residual                   FILE:FUNCTION; NAME defaults to FUNCTION

A method whose body is still a TODO of the handout raises NotImplementedError; the harnesses then
run everything else and name, in one line, the TODO that the method waits for (`waiting_for`).
"""
import hashlib
import importlib
import importlib.util
import inspect
import linecache
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Method:
    """A method plugged in by name: `function` as loaded from `spec`, and a digest of its source as
    loaded, so that a harness that keeps results can tell when the method's code has changed."""

    name: str
    spec: str
    function: Callable
    digest: str = field(init=False)

    def __post_init__(self):
        linecache.checkcache()  # the file as it is now, not as an earlier load of it read it
        try:
            source = inspect.getsource(self.function)
        except (OSError, TypeError):  # defined where its source cannot be read (an interactive session)
            source = self.spec
        object.__setattr__(self, "digest", hashlib.sha256(source.encode()).hexdigest()[:12])


def _module(where: str):
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise FileNotFoundError(f"no file {where} (a method is NAME=MODULE:FUNCTION or FILE.py:FUNCTION)")
        name = f"plugged_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as error:
        raise ImportError(f"cannot import {where!r} ({error}); run from the folder that holds it, "
                          "or give the file: FILE.py:FUNCTION") from None


def load_method(spec: str) -> Method:
    """'NAME=MODULE:FUNCTION', 'MODULE:FUNCTION' or 'FILE.py:FUNCTION' -> the Method."""
    name, _, target = spec.rpartition("=")
    where, colon, function_name = target.rpartition(":")
    if not colon or not where or not function_name:
        raise ValueError(f"a method is NAME=MODULE:FUNCTION, MODULE:FUNCTION or FILE.py:FUNCTION, got {spec!r}")
    function = getattr(_module(where), function_name, None)
    if not callable(function):
        raise ValueError(f"{where} has no function {function_name!r} (from {spec!r})")
    return Method(name or function_name, spec, function)


def waiting_for(error: NotImplementedError) -> str:
    """Where the TODO that raised `error` is, and what it asks: 'FILE, FUNCTION: MESSAGE'."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return f"{Path(frame.filename).name}, {frame.name}: {error}"
