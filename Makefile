# Two commands a new user needs: `make demo` (main job) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-unit demo bench kafka-start kafka-stop clean schemas

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## venv + Python packages + Kafka jars (cached outside git)
	$(BIN)/movierec kafka fetch

test: install  ## everything, against a real Kafka broker the suite starts itself
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not slow"

demo: install  ## train, start Kafka and the worker, stream swipes, show lists changing
	$(BIN)/movierec demo

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
