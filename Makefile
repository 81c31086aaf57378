# Everyday commands. The two a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
# Local servers used by the MariaDB/PostgreSQL test tiers unless already set.
export DEPLOYKIT_TEST_MARIADB_URL ?= mysql://root@127.0.0.1:3306/test
export DEPLOYKIT_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: demo test venv lint typecheck docs clean golden

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,postgres,docs]" "whitenoise>=6.6"
	@$(BIN)/python -m pip install -q -e ".[mariadb]" || \
	  echo "note: mysqlclient did not build (apt-get install libmariadb-dev pkg-config); the mariadb tier will be skipped"
	touch $@

# The main job: the example site dockerized and served from containers (compose)
# when a Docker engine answers, else locally by gunicorn (demo.sh says which).
# Its own venv holds only what the demo needs: deploykit and whitenoise.
DEMO_VENV ?= .venv-demo

$(DEMO_VENV)/.installed: pyproject.toml example_project/requirements.txt
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install -q -e . "whitenoise>=6.6"
	touch $@

demo: $(DEMO_VENV)/.installed
	cd example_project && PATH="$(CURDIR)/$(DEMO_VENV)/bin:$$PATH" sh ./demo.sh $(PORT)

# The whole test suite; tiers whose service is missing are skipped with a reason.
test: venv
	$(BIN)/python -m pytest

# Re-render the golden files of tests/golden/ after a deliberate template change;
# review the result with git diff tests/golden.
golden: venv
	$(BIN)/python -m tests.golden --update

lint: venv
	@test -x $(BIN)/ruff || $(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check django_deploykit tests example_project benchmarks
	$(BIN)/ruff format --check django_deploykit tests example_project benchmarks

# mypy with django-stubs over the whole package, management commands included.
typecheck: venv
	@test -x $(BIN)/mypy || $(BIN)/python -m pip install -q mypy django-stubs types-PyYAML
	$(BIN)/mypy

docs: venv
	$(BIN)/sphinx-build -W -q -b html docs docs/_build/html

clean:
	rm -rf $(VENV) $(DEMO_VENV) docs/_build build dist *.egg-info
