# Set-up from a fresh clone needs only Python 3.10+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test clean

$(BIN)/nb2pipe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/nb2pipe
	cd sample_notebooks && ../$(BIN)/nb2pipe convert kale_example.ipynb
	cd sample_notebooks && ../$(BIN)/nb2pipe run kale_example.ipynb

test: $(BIN)/nb2pipe
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
