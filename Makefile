# Two commands do everything on a fresh machine with Python 3.11:
#   make report QUARTER=2025Q4   set up, generate the sample if needed, build the quarter's reports
#   make test                    set up, generate the sample if needed, run the whole test suite
#   make lint                    ruff over the tree (rules in pyproject.toml)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUARTER ?= 2025Q4

.PHONY: setup sample report test lint notebooks constraints bench

$(BIN)/kit: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(BIN)/kit

setup: $(BIN)/kit

sample: setup
	$(BIN)/kit synth --if-missing

report: sample
	$(BIN)/kit report $(QUARTER)

test: sample
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

notebooks: sample
	$(BIN)/kit notebooks

constraints:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' | grep -v '^kit' > constraints.txt
