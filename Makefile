# Entry points a newcomer needs; each creates/reuses .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: env demo test bench clean

env:
	@tools/setup_env.sh

demo: env
	@tools/demo.sh

test: env
	$(PY) -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) build *.egg-info
