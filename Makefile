# Two commands on a fresh machine: `make run` serves the lab, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8501
# MODE=rate serves only the rating sheet, to raters with invitation codes (`python -m core raters invite NAME`).
MODE ?= lab
# Two pytest-xdist workers, a test file on one of them: most of a test's time is a subprocess, a browser or an
# import waiting on one core, so two workers fit the suite in ~13 minutes on two cores instead of ~19 (the Xeon of
# earlier sessions; ~21 on a 2-core AMD EPYC, where both cores are ~97% busy: README, "Tests").
# `make test PYTEST_ARGS=` runs it in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run test lint setup starter screenshots

run: starter
	QUILL_MODE=$(MODE) $(PY) -m dashboard --server.address $(HOST) --server.port $(PORT)

test: lint starter
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

# Rewrites the README's screenshots under docs/screenshots/: a populated workspace, the app in headless Chromium.
screenshots: $(VENV)/.installed-dev
	HF_HUB_OFFLINE=1 $(PY) tools/readme_screenshots.py

setup: $(VENV)/.installed

# Idempotent: builds the starter model only when the workspace lacks it.
starter: $(VENV)/.installed
	$(PY) -m core starter

$(PY):
	$(PYTHON) -m venv $(VENV)

# The project itself is installed editable (pyproject.toml), so `core` and `dashboard` import from anywhere.
$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PIP) -r requirements-dev.txt
	touch $@
