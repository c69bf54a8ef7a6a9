# The two commands of the README. Everything is installed into .venv by this file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo demo-quickstart test check lint typecheck pytest sandbox bytecode bench clean

# The main job: examples/genai-summarizer's whole story (retrain, evaluate against production,
# stop a regression, approve, promote, trace a flawed dataset), offline, on the CPU.
demo: $(STAMP) sandbox bytecode
	ASSAY=$(CURDIR)/$(BIN)/assay examples/genai-summarizer/story.sh

# The small tabular example: one step, then a pipeline with a gate.
QUICKSTART := cd examples/quickstart && ../../$(BIN)/assay

demo-quickstart: $(STAMP) sandbox bytecode
	@echo "== 1. Check the project's valohai.yaml"
	$(QUICKSTART) lint
	@echo "== 2. Run its train step: inputs, parameters, live log, metadata, outputs"
	$(QUICKSTART) run train --param epochs=120 --param learning_rate=0.2
	@echo "== 3. The model file, found by the alias its metadata gave it"
	$(QUICKSTART) datums show datum://house-price-model
	@echo "== 4. Retrain, evaluate and stop at the approval gate: no process waits there"
	$(QUICKSTART) pipeline run train-evaluate-promote --quiet
	@echo "== 5. A reviewer approves; the run continues and promotes the model"
	cd examples/quickstart && ASSAY_USER=alice ../../$(BIN)/assay pipeline approve latest promote \
	  --comment "RMSE within budget"
	$(QUICKSTART) datums show datum://production-model
	@echo "== 6. The approval made it a version in the model catalog, now in production"
	$(QUICKSTART) models show house-prices/production
	@echo "== 7. Everything is recorded"
	$(QUICKSTART) pipeline list
	$(QUICKSTART) executions list

test: $(STAMP) sandbox bytecode check pytest

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# A private /valohai per execution needs bubblewrap; install it where we may (root + apt),
# otherwise Assay runs without it and says so once.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1)) ; } || \
	  echo "note: bubblewrap is not installed; executions will run without a private /valohai"

# Assay's own modules compiled ahead: an editable install is not compiled by pip, and where
# PYTHONDONTWRITEBYTECODE is set every command would compile them anew (~0.1 s of each start).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src/assay

check: $(STAMP)
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy

# Three workers on two cores: most tests wait on real subprocesses. A file stays on one worker
# (its module fixtures are built once).
pytest: $(STAMP)
	$(BIN)/pytest -n 3 --dist loadfile

bench: $(STAMP) sandbox bytecode
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
