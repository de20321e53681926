# Two commands a newcomer needs (see README): `make demo` and `make test`.
# Both create/refresh the virtual environment first (tools/setup_env.sh is
# idempotent and caches the mmcv wheel under ~/.cache/prompthub).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install lint format test demo clean

install:
	bash tools/setup_env.sh

LINT_PATHS := projects tools tests demo docs/figures setup.py

# flake8, and isort/yapf in check mode (pinned in requirements/constraints.txt;
# `make format` applies them).
lint: install
	$(PY) -m flake8 $(LINT_PATHS)
	$(PY) -m isort --check-only --diff $(LINT_PATHS)
	$(PY) -m yapf --diff --recursive $(LINT_PATHS)

format: install
	$(PY) -m isort $(LINT_PATHS)
	$(PY) -m yapf --in-place --recursive $(LINT_PATHS)

test: lint
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: install
	bash demo/run_demo.sh

clean:
	rm -rf work_dirs .pytest_cache
