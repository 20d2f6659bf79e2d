"""The sandbox a student kernel runs in.

The kernel is started through this module as a launcher::

    python -m autograder.grading.sandbox SPEC_JSON -- python -m ipykernel_launcher -f CONNECTION_FILE

It uses the standard library only and runs before any student code.  As
root (CI, a grading server) it builds a jail with Linux namespaces:

* new mount, PID, network, IPC and UTS namespaces; inside them a fresh root
  (a small tmpfs) that holds, read-only, only what Python and NumPy need
  (``/usr``, the interpreter's installations and what it loads, see
  :func:`python_binds`, a few files of ``/etc``, a handful of ``/dev`` nodes),
  a fresh ``/proc`` that shows the jail's processes alone, a size-limited
  ``/tmp``, and read-write only the submission's scratch directory and the
  kernel's socket directory.  The course (solutions, hidden tests, the
  gradebook) and other students' work do not exist in there;
* the kernel runs as an unprivileged user of its own (a user id no other
  process has, so ``RLIMIT_NPROC`` counts its processes alone and it can
  signal nothing outside), with no capabilities and ``no_new_privs``;
* the launcher forks a small init (PID 1 of the jail) that starts the kernel
  and reaps; when the kernel ends, or the launcher is killed, the init dies
  and the kernel takes every process left in the jail with it.

Everywhere, the kernel gets resource limits (``setrlimit``), its own
session, and an environment with nothing of the grader's.  What the host
cannot provide is reported by :func:`protections`, once, at start.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import linux
from .limits import Limits
from .linux import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, PR_SET_PDEATHSIG

MB = 1024 * 1024
# Each kernel in the jail runs as a user of its own: UID_BASE + UIDS_PER_WORKER * (its worker's PID) + a serial
# number, so no other process has its user id while it lives, and the worker that owns a jail is known from it.
UID_BASE, UIDS_PER_WORKER = 200_000, 256

# What a Python kernel with NumPy reads from the host, bound read-only into the jail.
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/libx32", "/sbin")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
             "host.conf", "hosts")
DEV_NODES = ("null", "zero", "full", "random", "urandom")
# The course checkout: the directory that holds the ``autograder`` package (``course.ROOT``, which this
# module, standard library only, does not import).  Nothing of it is bound but a Python installation inside it.
COURSE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
MAX_LINKS = 40  # symbolic links followed in one path before giving up, as Linux does (ELOOP)
JAIL_NAMESPACES = linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS


@dataclass(frozen=True)
class Spec:
    """What the launcher needs besides the limits: where the jail's writable places are."""

    limits: dict
    scratch: str
    ipc: str
    parent: int = 0  # the grading process that starts the launcher: when it is gone, so is the jail
    uid: int | None = None  # the kernel's own user id (in the jail, as root); None: run as the grader's user


def kernel_uid(worker: int, serial: int) -> int:
    """The user id of the ``serial``-th kernel that the grading worker with PID ``worker`` launches."""
    return UID_BASE + UIDS_PER_WORKER * worker + serial % UIDS_PER_WORKER


def worker_of(uid: int) -> int | None:
    """The PID of the grading worker whose kernel runs as ``uid``; None for a user that is no kernel's."""
    return (uid - UID_BASE) // UIDS_PER_WORKER if uid >= UID_BASE else None


def minimal_env(home: str) -> dict:
    """An environment with nothing of the grader's: a minimal PATH, HOME in the scratch directory."""
    return {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".matplotlib")}


def jail_available() -> tuple[bool, str]:
    """Can this host build the jail?  (True, "") or (False, why not), probed in a throwaway child."""
    if os.getuid() != 0:
        return False, "needs root for namespaces"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            linux.private_mounts(JAIL_NAMESPACES)
            linux.tmpfs("/mnt", 1, "0755")
            os.write(write, b"ok")
        except Exception as error:  # noqa: BLE001 - reported to the parent
            os.write(write, str(error).encode()[:200])
        os._exit(0)
    os.close(write)
    answer = os.read(read, 256).decode(errors="replace")
    os.close(read)
    os.waitpid(pid, 0)
    return (True, "") if answer == "ok" else (False, answer or "the probe died")


def protections() -> tuple[list[str], list[str]]:
    """(active, missing) protections on this host, for the message printed once at start."""
    active = ["scratch directory per submission", "memory (RLIMIT_AS)", "CPU time (RLIMIT_CPU)",
              "file size (RLIMIT_FSIZE)", "open files (RLIMIT_NOFILE)", "wall time per cell and per notebook",
              "output size", "minimal environment", "own session and process group",
              "scoring outside the student process on plain data"]
    missing = []
    jail, why = jail_available()
    if jail:
        active += ["own user id without capabilities or new privileges",
                   "number of processes (RLIMIT_NPROC of that user)",
                   "no read access to the course, gradebook or other submissions (mount namespace and a "
                   "fresh read-only root)", "no write access outliving the run (tmpfs scratch and /tmp)",
                   "network off (network namespace)", "processes and signals confined (PID namespace)"]
    else:
        missing += [f"read isolation: the kernel runs as the grader's user and can read the course files, "
                    f"though scores never come from it ({why})",
                    f"network (no network namespace: {why})",
                    f"a user of its own and a process count limit for it ({why})",
                    f"a PID namespace: the kernel can signal the grader's processes ({why})"]
        if os.getuid() != 0:
            active.append("number of processes (RLIMIT_NPROC, shared with the grader's user)")
    return active, missing


def _limit(kind, value) -> None:
    soft, hard = resource.getrlimit(kind)
    value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
    resource.setrlimit(kind, (value, value))


def apply_limits(limits: Limits, processes: int) -> None:
    """The resource limits of the kernel (set in the process that is about to exec it)."""
    _limit(resource.RLIMIT_AS, limits.memory_mb * MB)
    _limit(resource.RLIMIT_CPU, limits.cpu_s)
    _limit(resource.RLIMIT_FSIZE, limits.file_mb * MB)
    _limit(resource.RLIMIT_NOFILE, limits.open_files)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NPROC, processes)


def _user_tasks() -> int:
    """Processes and threads of this user: RLIMIT_NPROC counts them all, not only the kernel's."""
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
    return count


def _bind(source: str, target: Path, writable: bool = False) -> None:
    """Bind ``source`` at ``target`` (created like it), read-only unless ``writable``; a symbolic link is
    copied, not followed (``/lib`` is ``usr/lib`` on a merged ``/usr``)."""
    if os.path.islink(source):
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(source), target)
        return
    if not os.path.exists(source):
        return
    if os.path.isdir(source):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    linux.mount(source, target, None, MS_BIND | MS_REC)
    device = source.startswith("/dev/")
    linux.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if writable else MS_RDONLY)
                | (0 if device else MS_NODEV))


def _resolve(path: str) -> tuple[str, list[str]]:
    """``path`` with its symbolic links resolved, and the links met on the way, in order.

    Each link is named by its real directory and its own name, so that made again at that place in the
    jail, with the same target, it leads where it leads here.
    """
    real, links = "/", []
    parts = [part for part in path.split("/") if part not in ("", ".")]
    while parts:
        part = parts.pop(0)
        if part == "..":
            real = os.path.dirname(real)
            continue
        here = os.path.join(real, part)
        if not os.path.islink(here):
            real = here
            continue
        if len(links) == MAX_LINKS:
            raise OSError(errno.ELOOP, f"more than {MAX_LINKS} symbolic links in {path}")
        links.append(here)
        target = os.readlink(here)
        parts[:0] = [part for part in target.split("/") if part not in ("", ".")]
        if target.startswith("/"):
            real = "/"
    return real, links


def _inside(path: str, folder: str) -> bool:
    """Is ``path`` the directory ``folder`` or below it (both absolute, without symbolic links)?"""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _library_dirs() -> set[str]:
    """The directories of the shared libraries this process has loaded (the dynamic loader, libpython,
    libffi, ...), from ``/proc/self/maps``; empty where there is none."""
    try:
        with open("/proc/self/maps") as maps:
            names = {fields[5].rstrip("\n") for fields in (line.split(maxsplit=5) for line in maps)
                     if len(fields) == 6}
    except OSError:
        return set()
    return {os.path.dirname(name) for name in names
            if name.startswith("/") and ".so" in os.path.basename(name) and os.path.isfile(name)}


def interpreter_paths() -> tuple[set[str], set[str], set[str]]:
    """What the interpreter running this launcher reads, as (prefixes, search path, others); the kernel runs
    on the same one (``launcher_command`` and jupyter_client both start ``sys.executable``), with the same
    environment.

    The prefixes are its installations: a virtual environment and the Python it was made from, or one
    installation for both (a system Python, a conda-style prefix).  The search path: the entries of its
    module search path.  The others: its executable and the directory of each shared library it has loaded.
    """
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    # sys.path[0] is the launcher's current directory (``-m`` puts it there, unless -P); the kernel, started
    # with ``-c``, drops its own first entry
    search = sys.path[0 if sys.flags.safe_path else 1:]
    others = {sys.executable, *_library_dirs()}
    return tuple({p for p in group if os.path.isabs(p)} for group in (prefixes, set(search), others))


def _holds(real: str, hidden: dict[str, str]) -> str | None:
    """The first hidden place (its description and path) that the directory ``real`` holds, or None."""
    for what, place in hidden.items():
        if _inside(place, real):
            return f"{what} {place}"
    return None


def python_binds(hidden: dict[str, str]) -> tuple[list[str], list[str]]:
    """(paths to bind, symbolic links to make again) so that the interpreter finds in the jail every path
    of :func:`interpreter_paths` at the spelling it knows, and nothing of ``hidden`` ({what: path}) is there.

    Each path is resolved through its symbolic links: its real directory or file is bound (once: not
    below another one, nor below ``/usr``), and each link on the way is made again at its place, so a
    ``.venv`` that is a link, a ``bin/python`` that leads elsewhere, a conda prefix's ``lib/`` all work.
    A prefix may lie inside the course (the course's own ``.venv``: bound alone, never the course around
    it), and must not hold anything hidden: that is an error.  Entries of the module search path outside
    every installation (a checkout put there by an editable install or a ``.pth`` line, ``PYTHONPATH``)
    are never bound: a student's kernel needs NumPy and ipykernel, which are installed, and such a
    folder may be this course or another.  Other paths inside the course and outside every prefix, or
    holding something hidden, are left out.
    """
    prefixes, search, others = interpreter_paths()
    reals, links = set(), []
    for prefix in prefixes:
        real, met = _resolve(prefix)
        exposed = _holds(real, hidden)
        if exposed:
            raise ValueError(f"the Python installation {prefix} (real path {real}) holds {exposed}, which the "
                             f"kernel must not see: grade with a Python installed outside it")
        reals.add(real)
        links += met
    installations = set(reals)
    for path in [*search, *others]:
        try:
            real, met = _resolve(path)
        except OSError:  # a loop of links, or a directory this user cannot read: not the interpreter's
            continue
        installed = any(_inside(real, p) for p in installations)
        if (not os.path.exists(real) or _holds(real, hidden) or (path in search and not installed)
                or (_inside(real, COURSE) and not installed)):
            continue
        reals.add(real)
        links += met
    system, binds = [os.path.realpath(path) for path in SYSTEM_DIRS], []
    for real in sorted(reals, key=len):  # a directory before what it holds
        if not any(_inside(real, bound) for bound in system + binds):
            binds.append(real)
    return binds, list(dict.fromkeys(links))


def _make_link(link: str, root: Path) -> None:
    """Make the symbolic link ``link`` again at its place under ``root``, unless a bound directory has it."""
    place = root / link.lstrip("/")
    if not os.path.lexists(place):
        place.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.readlink(link), place)


def build_root(root: Path, spec: Spec, limits: Limits) -> None:
    """The jail's file system at ``root`` (this process is in a fresh mount namespace)."""
    # the course, and the directory of this submission's scratch space, beside which lie the other
    # submissions' (a directory that holds it holds theirs)
    hidden = {"the course": COURSE, "the grading scratch spaces": os.path.dirname(spec.scratch)}
    binds, links = python_binds(hidden)
    linux.mount(None, "/", None, MS_REC | MS_PRIVATE)
    root.mkdir(parents=True, exist_ok=True)
    linux.tmpfs(root, 4, "0755")
    for path in SYSTEM_DIRS:
        _bind(path, root / path.lstrip("/"))
    for name in ETC_FILES:
        _bind(f"/etc/{name}", root / "etc" / name)
    dev = root / "dev"
    dev.mkdir()
    linux.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for node in DEV_NODES:
        _bind(f"/dev/{node}", dev / node, writable=True)
    for place, size in ((dev / "shm", 16), (root / "tmp", limits.file_mb)):
        place.mkdir(parents=True, exist_ok=True)
        linux.tmpfs(place, size, "1777")
    (root / "proc").mkdir()
    linux.mount("proc", root / "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # bound last, so that no tmpfs above hides them: a clone of the course under /tmp has its .venv there
    for path in binds:
        _bind(path, root / path.lstrip("/"))
    for link in links:
        _make_link(link, root)
    for place in (spec.scratch, spec.ipc):
        _bind(place, root / place.lstrip("/"), writable=True)


def _become(uid: int) -> None:
    """Drop to ``uid`` for good: no supplementary groups, no capabilities, no new privileges."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    linux.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of user clears it: set again


def _init(spec: Spec, limits: Limits, command: list[str]) -> None:
    """PID 1 of the jail: build it, start the kernel as the sandbox user, reap until the kernel ends."""
    linux.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the launcher killed: the jail dies with us
    root = Path(spec.ipc).parent / "jail-root"
    build_root(root, spec, limits)
    os.chroot(root)
    os.chdir(spec.scratch)
    _become(spec.uid)
    apply_limits(limits, limits.processes)
    kernel = os.fork()
    if kernel == 0:
        # its parent here is PID 1, which ipykernel must not take for the sign of an orphaned kernel
        env = {**os.environ, "JPY_PARENT_PID": "1"}
        os.execve(command[0], command, env)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _launch_jailed(spec: Spec, limits: Limits, command: list[str]) -> None:
    """Outside the jail: unshare, fork its init, and wait for it; killed, the init (and jail) follow."""
    # the parent named by the grader, not os.getppid(): a grader killed while this launcher was still
    # starting (a worker stopped just after launching its next kernel) would leave it orphaned from the start
    parent = spec.parent or os.getppid()
    if os.getppid() != parent:
        os._exit(75)
    linux.unshare(JAIL_NAMESPACES)
    init = os.fork()
    if init == 0:
        try:
            _init(spec, limits, command)
        except BaseException as error:  # noqa: BLE001 - the kernel never starts; the grader sees it die
            print(f"sandbox: could not start the kernel: {error}", file=sys.stderr)
        os._exit(70)
    # jupyter_client interrupts and kills the kernel's process group; we stay and pass the kill on
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: (os.kill(init, signal.SIGKILL), os._exit(143)))
    while True:
        pid, status = os.waitpid(init, os.WNOHANG)
        if pid:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        if os.getppid() != parent:  # the grading job is gone: take the jail down
            os.kill(init, signal.SIGKILL)
        time.sleep(0.1)


def launcher_command(limits: Limits, scratch: Path, ipc: Path, uid: int | None) -> list[str]:
    """The prefix that starts a kernel command under ``limits``, in the jail as ``uid`` unless it is None."""
    spec = Spec(limits.to_dict(), str(scratch), str(ipc), os.getpid(), uid)
    return [sys.executable, "-m", "autograder.grading.sandbox", json.dumps(asdict(spec)), "--"]


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m autograder.grading.sandbox SPEC_JSON -- COMMAND ...")
    spec = Spec(**json.loads(argv[0]))
    limits = Limits(**spec.limits)
    command = argv[2:]
    try:
        os.setsid()  # a signal the student sends to its process group reaches the kernel's alone
    except OSError:
        pass  # already a session leader
    if spec.uid is not None:
        _launch_jailed(spec, limits, command)
    apply_limits(limits, _user_tasks() + limits.processes)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
