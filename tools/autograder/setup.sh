#!/usr/bin/env bash
# Gradescope image set-up: a virtual environment of its own (current Ubuntu images refuse `pip install`
# into the system Python: "externally managed environment"), with the CPU-only build of torch.
# AUTOGRADER_ROOT (default /autograder) is overridable so the same script runs in a test layout.
set -euo pipefail
ROOT=${AUTOGRADER_ROOT:-/autograder}
apt-get update -qq
apt-get install -y -qq python3 python3-venv > /dev/null
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
"$ROOT/venv/bin/python" -m pip install --quiet -r "$ROOT/source/requirements-autograder.txt"
# the unprivileged user each submission runs as (grading/sandbox.py; the grader would create it too)
"$ROOT/venv/bin/python" "$ROOT/source/grading/sandbox.py" --create-user
# the isolation gradings get on this image: namespaces need no package, only a container that allows them
"$ROOT/venv/bin/python" "$ROOT/source/grading/sandbox.py" --check
