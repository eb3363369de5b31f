# The two commands: `make run` serves the portal, `make test` runs the whole suite.
# Both install whatever a fresh machine lacks first (virtualenv, Python and npm packages).

VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test install venv assets env db bench lint typecheck clean

run: install db
	PORT=$(PORT) $(PY) -m portal.serving.dev

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

install: venv assets env

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml stripe_sim/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]' -e './stripe_sim[test]'
	touch $@

assets: static/vendor/.installed
static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/@picocss/pico/css/pico.min.css static/vendor/pico.min.css
	touch $@

# A development .env with fresh random secrets, written once and never committed.
env: .env
.env:
	$(PY) -m portal.serving.devenv > .env
	@echo "wrote .env with development secrets"

db: install
	$(VENV)/bin/flask --app wsgi:app db upgrade

bench: install
	$(PY) bench/run_all.py

lint: install
	$(VENV)/bin/ruff check portal tests bench examples stripe_sim
	$(VENV)/bin/mypy portal

clean:
	rm -rf $(VENV) node_modules static/vendor
