#!/usr/bin/env bash
# Gradescope image set-up: Python packages for grading, with the CPU-only build of torch.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip > /dev/null
pip3 install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
pip3 install --quiet -r /autograder/source/requirements-autograder.txt
