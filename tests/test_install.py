"""What `make setup` installs: torch pinned to one version, and PyTorch's CPU index asked for only
when TORCH_INDEX names it (PyPI's Linux wheel is a CUDA build of several GB)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize("makefile", ["Makefile", "tools/handout/Makefile"])
def test_setup_asks_for_the_cpu_index_only_when_told(tmp_path, makefile):
    shutil.copy(ROOT / makefile, tmp_path / "Makefile")
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    plain = subprocess.run(["make", "-n", "setup"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    indexed = subprocess.run(["make", "-n", "setup", f"TORCH_INDEX={CPU_INDEX}"], cwd=tmp_path, capture_output=True,
                             text=True, check=True).stdout
    assert re.search(r"pip install --quiet +-r requirements.txt", plain) and "index" not in plain
    assert f"pip install --quiet --extra-index-url {CPU_INDEX} -r requirements.txt" in indexed


def test_torch_is_pinned_to_the_version_installed_here():
    pins = re.findall(r"^torch==(\S+)", (ROOT / "requirements.txt").read_text(), flags=re.M)
    assert len(pins) == 1 and torch.__version__.split("+")[0] == pins[0]
