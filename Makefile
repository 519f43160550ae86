# The two set-up commands of the README. Each creates .venv on first use and installs what it needs.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test system-deps bench clean

$(STAMP): pyproject.toml constraints-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints-dev.txt -e '.[dev]'
	touch $@

# Tools the test suite drives: a Mosquitto broker (MQTT output), shellcheck (deploy scripts),
# systemd-analyze (unit verification), gcc (host-built firmware), chromium (the web view's browser test; optional).
# Installed with apt when absent.
system-deps:
	@bash tests/system_deps.sh

demo: $(STAMP)
	$(BIN)/edge-rep demo

# Lint first ([tool.ruff] in pyproject.toml), then the whole suite.
test: $(STAMP) system-deps
	$(BIN)/ruff check --no-cache .
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info firmware_bridge/firmware/build
