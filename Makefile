# make book  - set up .venv if needed, execute every chapter once, build _build/html
# make test  - set up .venv if needed, lint, unit tests, then the same as `make book`
# make clean - remove build outputs and caches (make distclean also removes .venv)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := book

VENV := .venv
STAMP := $(VENV)/.installed
BOOTSTRAP_PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3)
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check
# Executes every chapter with papermill (time and memory in _build/reports/chapters.json),
# then renders _build/html with warnings as errors. MPLBACKEND is never set for it.
# tools/ is repository tooling, not installed with the package (it needs the book extra).
BOOKBUILD := $(VENV)/bin/python -m tools.bookbuild

.PHONY: venv test book browser browser-deps clean distclean constraints colab-venv colab-test

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x $(VENV)/bin/python ]; then \
		echo "Creating $(VENV) with $(BOOTSTRAP_PYTHON) ($$($(BOOTSTRAP_PYTHON) --version))"; \
		$(BOOTSTRAP_PYTHON) -m venv $(VENV); \
	fi
	@echo "Installing spect_tutorial and its dependencies into $(VENV) (about a minute) ..."
	@$(PIP) install --quiet --progress-bar off --upgrade pip
	@$(PIP) install --quiet --progress-bar off -c constraints.txt -e '.[test,book,bm4d]'
	@touch $@

test: $(STAMP)
	$(VENV)/bin/ruff check .
	MPLBACKEND=Agg $(VENV)/bin/python -m pytest
	$(BOOKBUILD)
	$(MAKE) --no-print-directory browser
	$(MAKE) --no-print-directory colab-test

# The built book in headless Chromium, offline (tests/browser; screenshots in
# _build/screenshots). Installs Debian's chromium and chromedriver when missing (CI runs as
# root) and fails loudly if it cannot: the browser test is never skipped. pytest-socket lets
# the test process reach the local server and chromedriver only (loopback).
browser: $(STAMP) browser-deps
	$(VENV)/bin/python -m pytest -o addopts="-ra --strict-markers \
		--allow-hosts=localhost,127.0.0.1,::1 --allow-unix-socket" tests/browser

browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "Installing Debian's chromium and chromium-driver for the browser test ..."; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver \
			>/dev/null || { echo "error: could not install chromium and chromium-driver" >&2; exit 1; }; \
	fi

book: $(STAMP)
	$(BOOKBUILD)

# Google Colab, tested: a Python 3.13 venv with Colab's own versions of what the chapters
# import (.ci/colab_packages.txt, as constraints), then the Colab cell's `--no-deps` install
# of this package; tests/colab/smoke.py imports every chapter's imports and builds every
# widget there. Building the venv downloads Colab's TensorFlow once (a few minutes; the
# stamp keeps it until the list changes).
COLAB_VENV := .venv-colab
# Colab's Python (3.13) when this machine has it; otherwise the project's own Python, which
# Colab's package versions also support (a fresh machine with only Python 3.11 still runs it).
COLAB_PYTHON := $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13; do "$$p" -c "" 2>/dev/null && { command -v "$$p"; break; }; done)
ifeq ($(COLAB_PYTHON),)
COLAB_PYTHON := $(BOOTSTRAP_PYTHON)
endif
COLAB_PACKAGES := tensorflow keras numpy scipy matplotlib scikit-image lazy_loader ipywidgets ipykernel \
	ipython pyyaml pillow h5py

colab-venv: $(COLAB_VENV)/.installed

$(COLAB_VENV)/.installed: .ci/colab_packages.txt
	@echo "Building $(COLAB_VENV) from Colab's package list with $(COLAB_PYTHON) ($$($(COLAB_PYTHON) --version))"
	rm -rf $(COLAB_VENV)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	grep -E '^[A-Za-z0-9_.-]+==' .ci/colab_packages.txt > $(COLAB_VENV)/colab-constraints.txt
	$(COLAB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c $(COLAB_VENV)/colab-constraints.txt $(COLAB_PACKAGES)
	$(COLAB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

colab-test: colab-venv
	/usr/bin/time -f "colab-test: %e s wall, %M KiB peak" \
		$(COLAB_VENV)/bin/python tests/colab/smoke.py

# Re-resolve the pins after changing pyproject.toml: a fresh venv without constraints, frozen.
constraints:
	rm -rf .venv-pins
	$(BOOTSTRAP_PYTHON) -m venv .venv-pins
	.venv-pins/bin/python -m pip install --quiet --upgrade pip
	.venv-pins/bin/python -m pip install --quiet -e '.[test,book,bm4d]'
	{ sed -n '1,/^# Regenerate/p' constraints.txt; \
	  .venv-pins/bin/python -m pip freeze --exclude-editable | grep -v '^spect.tutorial'; } \
		> constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-pins

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(COLAB_VENV) *.egg-info
