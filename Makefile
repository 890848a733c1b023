# Quick start: `make figures` (train the models and draw every figure) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup figures figures-mnist figures-dip test test-dip bench bench-mnist bench-dip bench-dip-start bench-dip-variations bench-grading bench-speed mutants tables handout fixtures grade grade-all autograder-zip clean

setup: $(STAMP)

# torch==2.13.0 from PyPI is a CUDA build (several GB with its nvidia-* packages) on Linux x86_64, and
# the CPU build on macOS and Windows. For the CPU build on Linux, name PyTorch's CPU index:
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (left empty, pip takes torch from where it is configured to look, as on machines that serve the CPU wheel).
TORCH_INDEX ?=

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements.txt
	touch $(STAMP)

figures: $(STAMP)
	$(PY) -m viz.all

figures-mnist: $(STAMP)
	$(PY) -m viz.mnist

figures-dip: $(STAMP)
	$(PY) -m viz.dip


# parallel workers, one torch thread each (tests/conftest.py): 1.77x as fast as one process on 2 cores (docs/development.md)
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS)

test-dip: $(STAMP)  # the DIP homework's public tests, as the handout runs them
	$(PY) -m pytest tests/test_dip_todos.py

bench: $(STAMP)
	$(PY) -m tools.bench
	$(PY) -m tools.bench_samplers

bench-mnist: $(STAMP)
	$(PY) -m tools.bench_mnist

bench-dip: $(STAMP)
	$(PY) -m tools.bench_dip_network
	$(PY) -m tools.bench_dip_reference
	$(PY) -m dip_ext.run_study

bench-dip-start: $(STAMP)
	$(PY) -m viz.dip_start --seeds 0 1 2 --per-class 3

bench-dip-variations: $(STAMP)  # the homework's other directions on MNIST (docs/dip.md); resumable
	$(PY) -m viz.dip_variations $(if $(SHARD),--shard $(SHARD))

bench-grading: $(STAMP)
	$(PY) -m tools.bench_grading

bench-speed: $(STAMP)  # speed policies, then the two-pixel default's time to quality, then MNIST's
	$(PY) -m tools.bench_speed
	$(PY) -m tools.bench
	$(PY) -m tools.bench_mnist

MODULES ?=  # empty: tools/mutants.py's DEFAULT_MODULES
MINUTES ?= 40
mutants: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m tools.mutants $(if $(strip $(MODULES)),--modules $(MODULES)) --minutes $(MINUTES)

tables: $(STAMP)  # every generated table of the guides, from the records in results/ (tools/tables.py)
	$(PY) -m tools.check_docs --write-tables

WITH ?=
handout: $(STAMP)
	$(PY) -m tools.make_handout --out handout $(foreach option,$(WITH),--with $(option))

fixtures: $(STAMP)
	$(PY) -m tools.make_fixtures

RESULTS ?= results.json
grade: $(STAMP)
	@test -n "$(SUBMISSION)" || (echo "usage: make grade SUBMISSION=DIR [RESULTS=PATH]"; exit 2)
	$(PY) -m tools.grade "$(SUBMISSION)" --results "$(RESULTS)"

CSV ?= grades.csv
grade-all: $(STAMP)
	@test -n "$(SUBMISSIONS)" || (echo "usage: make grade-all SUBMISSIONS=DIR [CSV=PATH] [TRUSTED=1]  (DIR: one subfolder per submission)"; exit 2)
	$(PY) -m tools.grade --all "$(SUBMISSIONS)" --csv "$(CSV)" $(if $(TRUSTED),--trusted)

autograder-zip: $(STAMP)
	$(PY) -m tools.autograder_zip --out autograder.zip

clean:
	rm -rf checkpoints figures samples handout mutants autograder.zip results.json grades.csv grades .pytest_cache
