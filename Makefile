# gridloop developer commands. Needs only python3 (3.11+) with venv and pip; everything else is
# installed into .venv from pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gridloop-installed

.DEFAULT_GOAL := help
.PHONY: help install up test lint clean messages browser

help:
	@echo "make up      start Temporal dev server + worker + HTTP server (Ctrl-C stops)"
	@echo "make test    lint, type-check and run the test suite"
	@echo "make lint    ruff check, ruff format --check, mypy"
	@echo "make install create $(VENV) and install gridloop with its dev tools"
	@echo "make clean   remove $(VENV), build output and tool caches (keeps var/, the case data)"
	@echo "make messages extract the console's message ids into web/locale (then translate zh_CN)"

$(BIN)/pip:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "gridloop needs Python 3.11 or newer; set PYTHON=python3.x" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/python -m pip install --disable-pip-version-check -e ".[dev]"
	@touch $@

install: $(STAMP)

up: $(STAMP)
	$(BIN)/gridloop up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
		chromium fonts-noto-cjk

browser: $(CHROMIUM)

test: lint browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Console translations: extract new message ids into both catalogs (then translate zh_CN).
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -F web/babel.cfg -k N_ -o web/locale/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i web/locale/messages.pot -d web/locale -l zh_CN
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i web/locale/messages.pot -d web/locale -l en
