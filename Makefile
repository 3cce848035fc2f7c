# Two commands do everything on a fresh machine with Python 3.11:
#   make report QUARTER=2025Q4   set up, generate the sample if needed, build the quarter's reports
#   make test                    set up, generate the sample if needed, run the whole test suite
#                                (and the notebooks' nbval once more as another CPU)
#   make lint                    ruff over the tree (rules in pyproject.toml)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUARTER ?= 2025Q4

.PHONY: setup sample report test nbval-other-cpu lint notebooks constraints bench

$(BIN)/kit: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(BIN)/kit

setup: $(BIN)/kit

sample: setup
	$(BIN)/kit synth --if-missing

report: sample
	$(BIN)/kit report $(QUARTER)

# The notebooks' nbval twice: as this machine computes, then as another CPU would (OpenBLAS's Sandy
# Bridge kernels; numpy's loops without AVX2, FMA and AVX-512, its X86_V3/V4 dispatch targets). Both
# must reproduce the same committed outputs: no shown digit may hang on the last bits of a float.
OTHER_CPU := OPENBLAS_CORETYPE=Sandybridge NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR"

test: sample
	$(BIN)/python -m pytest
	$(MAKE) nbval-other-cpu

nbval-other-cpu: sample
	$(OTHER_CPU) $(BIN)/python -m pytest $(wildcard notebooks/[0-9]*.ipynb)

lint: setup
	$(BIN)/ruff check .

notebooks: sample
	$(BIN)/kit notebooks

constraints:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' | grep -v '^kit' > constraints.txt
