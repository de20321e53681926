# Two commands a newcomer needs (see README): `make demo` and `make test`.
# Both create/refresh the virtual environment first (tools/setup_env.sh is
# idempotent and caches the mmcv wheel under ~/.cache/prompthub).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install lint test demo clean

install:
	bash tools/setup_env.sh

lint: install
	$(PY) -m flake8 projects tools tests

test: lint
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: install
	bash tools/run_demo.sh

clean:
	rm -rf work_dirs .pytest_cache
