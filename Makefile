# Two commands for a newcomer: `make book` and `make test`.  Both create the
# virtual environment on first use and reuse it afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test lint bench clean help exercises student-edition

help:
	@echo "make book   build the HTML book into _build/html (creates .venv on first use)"
	@echo "make pdf    the whole book as one PDF, _build/pdf/book.pdf (builds the book first; needs Chromium)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff over the code"
	@echo "make bench  run the benchmarks and write benchmarks/results.json"
	@echo "make exercises  regenerate the student releases in exercises/ from solutions/"
	@echo "make student-edition  write what students receive into _build/student/ (STUDENT_REMOTE=URL publishes it)"
	@echo "make gpu-check  on a GPU: CUDA tests, benchmark row 4, the book's comparison cells on cuda"

$(STAMP): requirements.txt pyproject.toml
	@echo ">> creating $(VENV) and installing requirements (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --progress-bar off -r requirements.txt
	$(BIN)/pip install --quiet --no-build-isolation --no-deps -e .
	@# the instructor's side (autograder/) is not packaged: the course venv finds it in this checkout,
	@# so nbgrader's kernels, run from any folder, import the hidden checks
	$(BIN)/python -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'nnref-course.pth').write_text('$(CURDIR)\n')"
	$(BIN)/python -c "import nnref, torch, jupyter_book, nbgrader, autograder"
	touch $@

book: $(STAMP)
	$(BIN)/python tools/sync_chapter_notebooks.py
	NNREF_BOOK_BUILD=1 OPENBLAS_NUM_THREADS=1 $(BIN)/jupyter-book build . --warningiserror --keep-going
	$(BIN)/python tools/student_edition.py

# The whole book as one PDF, _build/pdf/book.pdf: the built pages printed by Debian's Chromium (headless,
# through Playwright) and merged with a bookmark per chapter (tools/book_pdf.py).
.PHONY: pdf
pdf: book
	@bash tools/install_browser.sh
	$(BIN)/python tools/book_pdf.py

# What students receive, in _build/student/ (tools/student_edition.py): chapters, releases, the wheel.
# Publish it with STUDENT_REMOTE=<git URL of the student repository>: one commit on its `student` branch.
student-edition: $(STAMP)
	$(BIN)/python tools/student_edition.py $(if $(STUDENT_REMOTE),--push $(STUDENT_REMOTE))

# The browser tests need Debian's Chromium: installed once per machine when
# we are root with apt-get (as on CI), else they are skipped with the reason.
# One BLAS thread per pytest worker: the workers already use every core.  --dist loadgroup keeps each
# xdist_group on one worker: the tests of the built book wait for one build there, not on both workers.
test: $(STAMP)
	@bash tools/install_browser.sh
	@bash tools/install_postgres.sh
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The torch-CUDA backend proven on a GPU (tools/gpu_check.py): every CUDA test case, benchmark row 4,
# the book's NumPy/torch comparison cells on cuda; writes benchmarks/results-gpu.json.  No .venv
# prerequisite: the pinned torch is the CPU build, so the command looks for a Python whose torch sees
# the GPU and adds only what that one lacks.  Without a GPU it says so in one line and exits 0.
#   make gpu-check [GPU_CHECK_ARGS="--budget tests=300 --python /path/to/python"]
.PHONY: gpu-check
gpu-check:
	@$(PYTHON) tools/gpu_check.py $(GPU_CHECK_ARGS)

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
