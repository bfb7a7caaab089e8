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

lab: install
	$(VENV)/bin/jupyter lab notebooks/

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
	rm -rf $(VENV) artifacts .pytest_cache
