# Two commands do everything on a fresh clone: `make demo` and `make test`.
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: demo test test-slow lint format clean

$(VENV_STAMP): setup.cfg pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install --upgrade pip
	.venv/bin/pip install -e '.[dev]'
	touch $(VENV_STAMP)

demo: $(VENV_STAMP)
	$(PY) tools/demo.py --workdir=runs/demo

test: $(VENV_STAMP)
	$(PY) -m pytest -m "not slow and not gpu" -q

test-slow: $(VENV_STAMP)
	$(PY) -m pytest -m "slow" -q

lint: $(VENV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV_STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf .venv runs
