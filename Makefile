# Two commands for a newcomer: `make book` and `make test`.  Both create the
# virtual environment on first use and reuse it afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test lint bench clean help exercises

help:
	@echo "make book   build the HTML book into _build/html (creates .venv on first use)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff over the code"
	@echo "make bench  run the benchmarks and write benchmarks/results.json"
	@echo "make exercises  regenerate the student releases in exercises/ from solutions/"

$(STAMP): requirements.txt pyproject.toml
	@echo ">> creating $(VENV) and installing requirements (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --progress-bar off -r requirements.txt
	$(BIN)/pip install --quiet --no-build-isolation --no-deps -e .
	$(BIN)/python -c "import nnref, torch, jupyter_book, nbgrader"
	touch $@

book: $(STAMP)
	$(BIN)/python tools/sync_chapter_notebooks.py
	NNREF_BOOK_BUILD=1 OPENBLAS_NUM_THREADS=1 $(BIN)/jupyter-book build . --warningiserror --keep-going

# The browser tests need Debian's Chromium: installed once per machine when
# we are root with apt-get (as on CI), else they are skipped with the reason.
# One BLAS thread per pytest worker: the workers already use every core.
test: $(STAMP)
	@bash tools/install_browser.sh
	@bash tools/install_postgres.sh
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf _build

# Student releases exercises/ regenerated from the sources in solutions/ (nbgrader generate_assignment).
exercises: $(STAMP)
	$(BIN)/python tools/make_exercises.py

# Grade a class in sandboxes, in parallel, into gradebook.db:
#   make grade ASSIGNMENT=01_neurons SUBMISSIONS=submitted [WORKERS=2] [GRADE_ARGS="--force --report report.json"]
.PHONY: grade
ASSIGNMENT ?= 01_neurons
SUBMISSIONS ?= submitted
WORKERS ?= 2
grade: $(STAMP)
	$(BIN)/python -m autograder grade $(ASSIGNMENT) --submissions $(SUBMISSIONS) --workers $(WORKERS) $(GRADE_ARGS)
