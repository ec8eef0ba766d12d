# `make run`: the portal with demo data on embedded defaults. `make test`: the import contracts
# (.importlinter) and the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test install install-dev bench clean messages

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py load_demo --quiet
	exec $(BIN)/python manage.py runportal --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# After adding or changing a translatable text: update the French catalogue (translate what it
# marks untranslated or fuzzy), then compile it. Needs GNU gettext; the compiled .mo is committed.
messages: $(VENV)/.installed
	$(BIN)/python manage.py makemessages -l fr --no-obsolete --ignore=.venv --ignore=var --ignore=tests \
		--ignore=bench --ignore=node_modules --ignore=static/vendor
	$(BIN)/python manage.py compilemessages -l fr --ignore=.venv

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var/*.sqlite3* var/celery var/cache
