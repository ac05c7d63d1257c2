# `make run` and `make test` set up everything they need; both are idempotent.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.requirements-installed
PYTHON3 ?= python3

REPLAY_VERSION := 2.5.3
REPLAY_DIR     := vendor/replaywebpage-$(REPLAY_VERSION)

PYWB_VENV := .pywb-venv

.PHONY: setup chromium run test lint bench clean

setup: $(STAMP) chromium $(REPLAY_DIR)/sw.js $(PYWB_VENV)/bin/wayback

# pywb, the reference replay tool the round-trip tests run (tests/test_pywb.py): in its own
# virtualenv, as it pins older dependencies than ours.
$(PYWB_VENV)/bin/wayback: tests/pywb-requirements.txt
	test -x $(PYWB_VENV)/bin/python || $(PYTHON3) -m venv $(PYWB_VENV)
	$(PYWB_VENV)/bin/python -m pip install -q --disable-pip-version-check -r tests/pywb-requirements.txt
	touch $@

# replayweb.page (AGPL-3.0), the client-side replay viewer: fetched from npm, never committed.
$(REPLAY_DIR)/sw.js:
	mkdir -p $(REPLAY_DIR)
	cd $(REPLAY_DIR) && npm pack --silent replaywebpage@$(REPLAY_VERSION) >/dev/null \
	  && tar xzf replaywebpage-$(REPLAY_VERSION).tgz --strip-components=1 package/sw.js package/ui.js package/LICENSE \
	  && rm replaywebpage-$(REPLAY_VERSION).tgz
	python3 tools/patch_replaywebpage.py $(REPLAY_DIR)/sw.js

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# Chromium, in this order: CHROMIUM_PATH, a Playwright-installed one, /usr/bin/chromium;
# otherwise install one (Debian's package as root, else Playwright's download).
chromium: $(STAMP)
	@if $(PY) -c "import os, crawler.browser as b; print('chromium:', b.find_chromium(os.environ.get('CHROMIUM_PATH', '')))" 2>/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
	  echo "installing Playwright's chromium"; $(VENV)/bin/playwright install chromium; \
	fi

run: setup
	$(PY) -m archive serve

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) bench/capture.py
	$(PY) bench/search.py
	$(PY) bench/warc.py
	$(PY) bench/lookup.py
	$(PY) bench/fidelity.py
	$(PY) bench/detect.py
	$(PY) bench/extract.py
	$(PY) bench/schedule.py
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) $(PYWB_VENV) .pytest_cache .ruff_cache
