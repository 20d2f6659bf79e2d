"""A student's submission: finding its notebook in its folder, reading it and refusing what cannot be graded.

The folder is ``DIR/<student>/<assignment>/``, as nbgrader lays out a
course; the notebook has the name of the assignment's source notebook.
Anything that is not a runnable nbformat-4 notebook is refused with a
``ValueError`` whose message the student can act on; the result is then
``ungradable``.

A submission is read only from its own folder's bytes: neither the
student's folder nor the assignment's may be a symbolic link, and the
notebook must be a regular file (not a link, FIFO, device or folder), no
larger than ``Limits.notebook_mb`` (its apparent size, so a sparse file
counts in full), checked before it is read.  Each component is opened
without following a link, so what is checked is what is read.  A student's
folder name may hold any bytes: :func:`printable` is how it is shown, and
:func:`unstorable` says when the gradebook cannot store it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from pathlib import Path

from .limits import Limits

TIMESTAMP = "timestamp.txt"  # nbgrader's own, beside the notebook: when the student submitted
EXPECTED_FILES = (TIMESTAMP,)  # besides the notebook; hidden files (checkpoints) are ignored too
TIMESTAMP_CAP = 200  # bytes of timestamp.txt read: nbgrader writes one line of about 30


MB = 1_000_000


def printable(name: str) -> str:
    """``name`` as a terminal or a message may show it: each character that is not printable (controls,
    escapes, newlines, format characters) written as Python escapes it, and each byte that is not UTF-8
    (which ``os.listdir`` gives as a lone surrogate) as ``\\xNN``."""
    return "".join(c if c.isprintable() else
                   f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff" else repr(c)[1:-1] for c in name)


def unstorable(student: str) -> str | None:
    """Why nbgrader's gradebook cannot store a student of this folder name (it is not UTF-8), or None."""
    try:
        student.encode("utf-8")
    except UnicodeEncodeError:
        return (f"the folder name {printable(student)} is not UTF-8 text, which the gradebook cannot store; "
                "rename the folder")
    return None


def submitted(folder: Path) -> bool:
    """Whether the student handed in something for the assignment at ``folder`` (``DIR/<student>/<assignment>``):
    a folder, or a symbolic link at either level (refused when graded); no link is followed."""
    try:
        if stat.S_ISLNK(os.lstat(folder.parent).st_mode):
            return True
        mode = os.lstat(folder).st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) or stat.S_ISLNK(mode)


def _named(folder: Path) -> str:
    return f"{printable(folder.parent.name)}/{printable(folder.name)}"


def _open_folder(folder: Path) -> int:
    """A descriptor of ``folder``, the student's folder and the assignment's opened without following a link;
    ``ValueError`` naming the one that is not a plain folder."""
    fd = None
    try:
        for path, name in ((folder.parent, str(folder.parent)), (folder, folder.name)):
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                raise ValueError(f"no folder {_named(path) if path == folder else printable(path.name)} "
                                 "in the submissions") from None
            if stat.S_ISLNK(mode):
                raise ValueError(f"the folder {printable(path.name)} is a symbolic link: the grader reads only "
                                 "what was submitted in the folder itself")
            if not stat.S_ISDIR(mode):
                raise ValueError(f"{printable(path.name)} is not a folder")
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            if fd is not None:
                os.close(fd)
            fd = inner
        return fd
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise


KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
         (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def _read_notebook(folder_fd: int, name: str, cap_mb: float) -> bytes:
    """The bytes of notebook ``name`` in the folder ``folder_fd``: a regular file of at most ``cap_mb``, never
    a link followed nor a special file opened; ``ValueError`` saying what it is otherwise."""
    try:
        mode = os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        found = sorted(n for n in os.listdir(folder_fd) if n.endswith(".ipynb"))
        raise ValueError(f"missing notebook {name}; the submission holds "
                         f"{[printable(n) for n in found] or 'no notebook'}") from None
    for kind, what in KINDS:
        if kind(mode):
            raise ValueError(f"{name} is {what}, not a file: the grader reads only a notebook submitted as a "
                             "plain file")
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced since it was looked at
            raise ValueError(f"{name} is not a plain file")
        cap = int(cap_mb * MB)
        if info.st_size > cap:
            raise ValueError(f"{name} is {info.st_size / MB:.1f} MB, over the {cap_mb:g} MB a notebook may have")
        chunks, left = [], cap + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:  # it grew while being read
            raise ValueError(f"{name} is over the {cap_mb:g} MB a notebook may have")
        return b"".join(chunks)
    finally:
        os.close(fd)


def load(folder: Path, notebook_name: str, cap_mb: float = Limits.notebook_mb) -> dict:
    """The student's notebook as a dict, read from ``folder`` alone and at most ``cap_mb`` (the declared limit
    by default); ``ValueError`` with a clear message when it cannot be graded."""
    folder_fd = _open_folder(folder)
    try:
        text = _read_notebook(folder_fd, notebook_name, cap_mb)
    finally:
        os.close(folder_fd)
    if not text.strip():
        raise ValueError(f"{notebook_name} is an empty file")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{notebook_name} is not valid JSON: {str(error)[:200]}") from None
    if type(data) is not dict or type(data.get("cells")) is not list:
        raise ValueError(f"{notebook_name} is not a notebook: it has no list of cells")
    if data.get("nbformat") != 4:
        raise ValueError(f"{notebook_name} has nbformat {data.get('nbformat')!r}; nbformat 4 is expected")
    for i, cell in enumerate(data["cells"]):
        if type(cell) is not dict or "source" not in cell or type(cell.get("metadata", {})) is not dict:
            raise ValueError(f"{notebook_name}: cell {i} is malformed")
    return data


def extra_files(folder: Path, notebook_name: str) -> list[str]:
    """The names of the files in ``folder`` that the grader ignores, in order of name."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name != notebook_name and p.name not in EXPECTED_FILES and not p.name.startswith("."))


def _open_plain(folder_fd: int, name: str) -> int | None:
    """A read-only descriptor of ``name`` in ``folder_fd`` when it is a regular file, never following a symbolic
    link nor opening a special file; else None."""
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode):
            return None
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EACCES, errno.ENXIO):
            return None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _folder_or_none(folder: Path) -> int | None:
    try:
        return _open_folder(folder)
    except (ValueError, OSError):
        return None


def timestamp(folder: Path) -> str | None:
    """The text of nbgrader's ``timestamp.txt`` in ``folder`` (stripped), or None when there is none."""
    folder_fd = _folder_or_none(folder)
    fd = None if folder_fd is None else _open_plain(folder_fd, TIMESTAMP)
    if folder_fd is not None:
        os.close(folder_fd)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as f:
        text = f.read(TIMESTAMP_CAP).decode(errors="replace").strip()
    return text or None


def fingerprint(folder: Path, notebook_name: str) -> str:
    """What a rerun compares to know whether a submission changed since it was graded: a SHA-256 of the
    notebook's bytes (or, without one, of the names of the notebooks the folder holds) and of
    ``timestamp.txt``.  A symbolic link counts as its target's name, never followed; a notebook over the
    declared size limit by its size and time of change, never read; a folder that is a link as the link."""
    digest = hashlib.sha256()
    folder_fd = _folder_or_none(folder)
    if folder_fd is None:
        for path in (folder.parent, folder):
            with contextlib.suppress(OSError):
                digest.update(b"link\0" + os.fsencode(os.readlink(path)))
        return digest.hexdigest()
    try:
        for name in (notebook_name, TIMESTAMP):
            fd = _open_plain(folder_fd, name)
            if fd is not None:
                with os.fdopen(fd, "rb") as f:
                    info = os.fstat(f.fileno())
                    if info.st_size > Limits.notebook_mb * MB:
                        digest.update(b"size\0" + f"{info.st_size} {info.st_mtime_ns}".encode())
                    else:
                        digest.update(b"file\0" + hashlib.file_digest(f, "sha256").digest())
            elif os.path.islink(path := folder / name):
                digest.update(b"link\0" + os.fsencode(os.readlink(path)))
            elif name == notebook_name:
                found = sorted(n for n in os.listdir(folder_fd) if n.endswith(".ipynb"))
                digest.update(b"none\0" + os.fsencode("\0".join(found)))
            else:
                digest.update(b"none\0")
    finally:
        os.close(folder_fd)
    return digest.hexdigest()
