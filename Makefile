# Two commands a new user needs: `make demo` (main job) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser test test-unit demo bench kafka-start kafka-stop clean schemas

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) browser  ## venv + Python packages + Kafka jars (cached outside git) + chromium
	$(BIN)/movierec kafka fetch

browser:  ## Debian's chromium for the browser test (Playwright drives it; it downloads no browser)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "warning: no chromium; the browser test needs it: apt-get install chromium (as root)"; fi; }

test: install  ## everything, against a real Kafka broker the suite starts itself
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not slow"

demo: install  ## train, start Kafka and the worker, stream swipes, show lists changing; then the app's URL
	$(BIN)/movierec demo --serve

bench: install
	$(BIN)/python bench/offline.py --synthetic ml-20m

schemas: $(STAMP)  ## re-export the JSON Schemas of the event contracts
	$(BIN)/movierec schemas export

kafka-start: install
	$(BIN)/movierec kafka start
kafka-stop:
	$(BIN)/movierec kafka stop

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
