# The commands: `make run` serves the portal for development, `make test` runs the whole suite,
# `make serve` serves it in production (README, "Deploying"). Each installs what a fresh machine
# lacks first (virtualenv, Python and npm packages; for `make test`, chromium when it can).

VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 3
# The browser tests drive Debian's chromium at this path (tests/conftest.py), with this font.
CHROMIUM ?= /usr/bin/chromium
BROWSER_FONT ?= /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

.PHONY: run serve test chromium install venv assets env db bench lint typecheck clean

run: install db
	PORT=$(PORT) $(PY) -m portal.serving.dev

# Checks the environment (refusing in one line), then becomes gunicorn, whose master applies the
# migrations before it listens. exec: a SIGTERM to make reaches gunicorn, not a shell.
serve: venv assets
	PORT=$(PORT) exec $(PY) -m portal.serving.production

# The suite waits more than it computes (simulator, browser, served apps, subprocesses), so
# three xdist workers, each taking whole files, finish in about half the time on two cores.
# Each test keeps to its own Redis key prefix, database and ports (0, or held while in use).
test: install chromium
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Installs Debian's chromium and fonts-dejavu-core when missing, as root with apt-get. When it
# cannot, it says why in one line and the browser tests skip; under CI=true it stops here.
chromium:
	@need=""; \
	[ -x "$(CHROMIUM)" ] || need="chromium"; \
	[ -e "$(BROWSER_FONT)" ] || need="$$need fonts-dejavu-core"; \
	[ -n "$$need" ] || exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $$need for the browser tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need && exit 0; \
	  why="apt-get failed"; \
	else why="that needs root and apt-get"; fi; \
	if [ "$$CI" = true ]; then \
	  echo "cannot install $$need ($$why), and CI=true runs the browser tests" >&2; exit 1; \
	fi; \
	echo "not installing $$need ($$why): the browser tests will skip"

install: venv assets env

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml stripe_sim/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev,asgi]' -e './stripe_sim[test]'
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

# slowapi, the ASGI bench's reference, is for the bench only (the `bench` extra).
bench: install
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) bench/run_all.py

lint: install
	$(VENV)/bin/ruff check portal tests bench examples stripe_sim
	$(VENV)/bin/mypy portal

clean:
	rm -rf $(VENV) node_modules static/vendor
