"""Write the student edition of the course into ``_build/student/``: ``make student-edition``.

What students receive, and nothing of the instructor's:

* ``book/``: every chapter the table of contents lists, as its MyST source
  and its ``.ipynb`` twin (the launch buttons open these);
* ``exercises/``: the nbgrader releases (no solutions, no hidden tests);
* ``wheels/``: the course package built as a wheel (the reference package
  only; ``tests/test_packaging.py`` checks its contents);
* ``requirements.txt`` for launch services (Binder) and a ``README.md``.

No file of ``solutions/`` or ``autograder/``, no gradebook, no instructor
guide.  ``check`` refuses to write an edition that holds any of them.

``--push URL`` then publishes the tree as the single commit of a branch
(``--branch``, default ``student``) of the repository at ``URL``, which the
book's launch buttons name in ``_config.yml`` (``student_edition``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import course  # noqa: E402 - after the path set-up above
from tools import toc  # noqa: E402
from tools.sync_chapter_notebooks import package_version, requirement  # noqa: E402

OUT = ROOT / "_build" / "student"
PACKAGE_FILES = ("pyproject.toml", "README.md", "nnref")

# Text that marks instructor material; none of it may appear in the edition.
SECRETS = ("### BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "from autograder", "import autograder")
FORBIDDEN_PARTS = ("solutions", "autograder", "gradebook.db", "instructors.md", "mutants.md")

BINDER_IMAGE_MB = 1050  # numpy, matplotlib, ipywidgets, jupyterlab, scikit-learn with scipy (~150 MB), CPU torch


def build_wheel(folder: Path) -> Path:
    """The course package as a wheel in ``folder``, built from a copy of its sources
    (a build in the checkout would leave ``build/`` behind)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nnref-wheel-") as tmp:
        for name in PACKAGE_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, Path(tmp) / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, Path(tmp) / name)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                        "--wheel-dir", str(folder), tmp], check=True, capture_output=True, text=True)
    wheels = sorted(folder.glob("nnref-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one nnref wheel in {folder}, found {[w.name for w in wheels]}")
    return wheels[0]


def requirements() -> str:
    return f"""\
# What a launch service (Binder) installs for the course's notebooks.
# Expected image: about {BINDER_IMAGE_MB} MB, with the CPU build of torch (no CUDA wheels).
# The course package: from the index, or from wheels/ in this repository.
--find-links wheels
{requirement("book")}
jupytext>=1.16
# torch's CPU build (the chapters compare NumPy and torch; the exercises need NumPy alone)
--extra-index-url https://download.pytorch.org/whl/cpu
torch==2.13.0
"""


def readme(assignments: list[str]) -> str:
    listing = "\n".join(f"- `exercises/{name}/`" for name in assignments)
    return f"""\
# Foundations of Neural Networks: the student edition

This repository holds what you work with in the course:

- `book/`: every chapter as a notebook (`.ipynb`, or the `.md` source it is made from). Open a chapter
  from the book's launch buttons (Colab, Binder, your university's JupyterHub) or download it and run it
  with Jupyter. The first code cell installs the course package `nnref` when it is missing.
- `exercises/`: the graded exercises, one folder each. They need NumPy alone. Work in the cells marked
  `YOUR CODE HERE`, run the visible checks under each answer, and hand in the notebook as your course says.
  Hidden tests decide the grade.
{listing}
- `wheels/`: the course package, for a machine without access to the package index:
  `pip install wheels/nnref-{package_version()}-py3-none-any.whl`.

On your own machine: `python -m venv .venv`, activate it, `pip install -r requirements.txt`, then
`jupyter lab`.
"""


def notebooks_of_book() -> list[Path]:
    """The chapters' sources (.md) and twins (.ipynb) that the table of contents lists."""
    files = []
    for page in toc.docnames(ROOT / "_toc.yml"):
        for suffix in (".md", ".ipynb"):
            path = ROOT / f"{page}{suffix}"
            if path.exists():
                files.append(path)
    return files


def write(out: Path = OUT) -> Path:
    """Write the edition into ``out`` (replacing what was there) and check it."""
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    for path in notebooks_of_book():
        shutil.copy(path, out / path.relative_to(ROOT))
    names = []
    for assignment in course.assignments():
        release = assignment.release()
        target = out / release.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(release, target)
        names.append(assignment.name)
    build_wheel(out / "wheels")
    (out / "requirements.txt").write_text(requirements())
    (out / "README.md").write_text(readme(names))
    problems = check(out)
    if problems:
        raise RuntimeError("the student edition holds instructor material:\n" + "\n".join(problems))
    return out


def check(out: Path) -> list[str]:
    """What in ``out`` must not reach students: instructor files and text, wheels holding more than nnref."""
    import zipfile

    problems = []
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out)
        if any(part in FORBIDDEN_PARTS for part in relative.parts):
            problems.append(f"{relative}: an instructor's file")
        if not path.is_file():
            continue
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                for name in wheel.namelist():
                    top = name.split("/")[0]
                    if top != "nnref" and not (top.startswith("nnref-") and top.endswith(".dist-info")):
                        problems.append(f"{relative}: {name} is not part of the nnref package")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += [f"{relative}: holds {secret!r}" for secret in SECRETS if secret in text]
    return problems


def push(out: Path, url: str, branch: str) -> None:
    """Publish ``out`` as the single commit of ``branch`` at ``url`` (force-pushed: the edition is generated)."""
    git = ["git", "-C", str(out)]
    subprocess.run([*git, "init", "--quiet", "--initial-branch", branch], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "-c", "user.name=nnref course", "-c", "user.email=course@invalid",
                    "commit", "--quiet", "-m", f"Student edition of nnref {package_version()}"], check=True)
    subprocess.run([*git, "push", "--quiet", "--force", url, f"HEAD:refs/heads/{branch}"], check=True)
    shutil.rmtree(out / ".git")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the edition (default: %(default)s)")
    parser.add_argument("--push", metavar="URL", help="publish the edition to this git repository")
    parser.add_argument("--branch", default="student", help="the branch --push writes (default: %(default)s)")
    args = parser.parse_args(argv)
    out = write(args.out)
    files = sum(1 for p in out.rglob("*") if p.is_file())
    print(f"student edition: {files} files in {out}")
    if args.push:
        push(out, args.push, args.branch)
        print(f"student edition: pushed to {args.push} ({args.branch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
