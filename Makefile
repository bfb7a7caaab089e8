# The course's two commands: `make lab` (learn) and `make test` (check everything).
# Both create .venv on first use and install the package with its dependencies.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vaecourse-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: install lab test unit notebooks lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing vaecourse and its dependencies into $(VENV) ..."
	@start=$$(date +%s); \
	$(PY) -m pip install -q -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true; \
	$(PY) -c "import vaecourse, torch, nbval, jupyterlab" && \
	echo "Installed in $$(( $$(date +%s) - start )) s." && touch $(STAMP)
	@test -f $(STAMP)

install: $(STAMP)

# Jupyter refuses to run as root unless told; containers and CI often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: install
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) notebooks/

lint: install
	$(VENV)/bin/ruff check .

unit: install
	$(PY) -m pytest -q tests

notebooks: install
	@start=$$(date +%s); \
	VAECOURSE_SMOKE=1 $(PY) -m pytest -q --nbval-lax -p no:cacheprovider notebooks; status=$$?; \
	echo "Notebook run (smoke mode, nbval): $$(( $$(date +%s) - start )) s"; exit $$status

test: lint unit notebooks

bench: install
	$(PY) scripts/bench_fit.py

clean:
	rm -rf $(VENV) artifacts/browser .pytest_cache  # artifacts/checkpoints/ holds the models you trained: kept

# --- Browser and Colab-compatibility tests (issue 7) ---
# browser-deps: Debian's chromium for the browser test (Playwright comes with the `test` extra;
# Playwright's own browser download is never used). browser-test: the lessons' widgets in a real
# JupyterLab in headless Chromium, screenshots in artifacts/browser/. colab-test: the widget tests
# under ipywidgets 7.7.1 and the setup cell in a Colab-like environment (built under build/);
# colab-lessons-test: the widget lessons themselves under ipywidgets 7.7.1.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: browser-deps browser-test colab-test colab-lessons-test

browser-deps: install
	@test -x $(CHROMIUM) || { echo "Installing Debian's chromium for the browser tests ..."; \
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "No Chromium at $(CHROMIUM)"; exit 1; }
	@$(PY) -c "import playwright" || { echo "playwright is missing from $(VENV): make install"; exit 1; }

browser-test: browser-deps
	@start=$$(date +%s); \
	VAECOURSE_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -p no:cacheprovider --durations=12 tests/browser; status=$$?; \
	echo "Browser test (JupyterLab + Chromium, screenshots in artifacts/browser/): $$(( $$(date +%s) - start )) s"; \
	exit $$status

colab-test: install
	@start=$$(date +%s); \
	$(PY) -m pytest -q -p no:cacheprovider tests/colab -k "not lesson_runs"; status=$$?; \
	echo "Colab-compatibility test (widget tests on ipywidgets 7.7.1, setup cell): $$(( $$(date +%s) - start )) s"; \
	exit $$status

# Slower: every widget lesson under nbval (smoke mode) with a kernel that has ipywidgets 7.7.1.
colab-lessons-test: install
	@start=$$(date +%s); \
	$(PY) -m pytest -q -p no:cacheprovider tests/colab -k "lesson_runs"; status=$$?; \
	echo "Widget lessons on ipywidgets 7.7.1 (nbval, smoke mode): $$(( $$(date +%s) - start )) s"; \
	exit $$status
