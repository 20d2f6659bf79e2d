"""The Linux system calls the sandbox needs and Python's standard library lacks, called through libc.

Mount, unmount, unshare and prctl, each raising ``OSError`` with the
system's message when it fails.  Standard library only: the sandbox
launcher imports it before any student code runs.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38


def libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _checked(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _bytes(value) -> bytes | None:
    return None if value is None else str(value).encode()


def mount(source, target, fstype, flags: int, data=None) -> None:
    """mount(2); ``None`` for the arguments a bind or a remount leaves out."""
    _checked(libc().mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data)),
             f"mount {source} on {target}")


def tmpfs(target, size_mb: int, mode: str, flags: int = MS_NOSUID | MS_NODEV) -> None:
    """A tmpfs of ``size_mb`` MB at ``target``, its root with permissions ``mode`` (octal text)."""
    mount("tmpfs", target, "tmpfs", flags, f"size={size_mb}m,mode={mode}")


def umount(target) -> None:
    """Detach the mount at ``target`` (its files go with it when it is a tmpfs)."""
    _checked(libc().umount2(str(target).encode(), MNT_DETACH), f"umount {target}")


def unshare(flags: int) -> None:
    """unshare(2): new namespaces of the kinds in ``flags`` (``CLONE_NEW*``) for this process."""
    _checked(libc().unshare(flags), "unshare")


def private_mounts(flags: int = CLONE_NEWNS) -> None:
    """New namespaces (a mount namespace at least) in which no mount propagates to the host or back."""
    unshare(flags | CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def prctl(option: int, value: int) -> None:
    """prctl(2) with one argument; its result is not checked (the options used cannot fail on Linux)."""
    libc().prctl(option, value, 0, 0, 0)
