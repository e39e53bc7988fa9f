# `make demo` and `make test` each set up .venv on first use (pinned install)
# and reuse it afterwards; the install is redone when setup.py or
# constraints.txt change.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_run
# Test processes (pytest-xdist): CI's machine has 2 cores.
TEST_WORKERS ?= 2
export TF_USE_LEGACY_KERAS := 1

.PHONY: install test demo bench clean

$(STAMP): setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned stack into $(VENV) (a few minutes the first time)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
	  --ignore-requires-python -c constraints.txt -e '.[test]'
	@touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

demo: $(STAMP)
	$(BIN)/coarse-rank demo --out $(DEMO_DIR)

bench: $(STAMP)
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/listwise.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/validator.py
	$(BIN)/python bench/serving_latency.py

clean:
	rm -rf $(DEMO_DIR) build *.egg-info
