"""A training run's folder: never reached through a symbolic link, and one run at a time.

Two runs into one folder would each report success while the last writer's checkpoint wins;
so a run holds a lock on ``.lock`` in the folder for as long as it trains (an flock: the
kernel releases it when the process ends, however it ends, so no lock is ever stale) with its
pid written in it, and a second run is refused with that pid. The processes ``--nproc``
starts find the lock held by the process that started them, which is theirs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from qkv.errors import InputError

LOCK = ".lock"


def check_links(out: Path) -> None:
    """InputError when the folder or a folder on the way to it, as written, is a symbolic
    link: qkv writes through no link (a link planted in a shared folder would send a run's
    files where its owner points it)."""
    for part in [*reversed(out.parents), out]:
        if part.is_symlink():
            raise InputError(
                f"--out {out}: {part} is a symbolic link; qkv writes no run through a link "
                "(name the folder it points to)"
            )


@contextlib.contextmanager
def held(out: Path, lock: bool = True) -> Iterator[None]:
    """Hold the run folder's lock (making the folder) for the duration; nothing when ``lock``
    is False (the ranks but 0 write nothing). A folder made here and left empty is removed,
    so a refused run leaves nothing behind."""
    if not lock:
        yield
        return
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot make the folder {out} ({e.strerror})") from None
    fd = _lock(out)
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(out / LOCK)
            os.close(fd)
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()  # only when empty: a refused run's


def _lock(out: Path) -> int | None:
    """The locked ``.lock``'s descriptor; None when the process that started this one holds
    it. InputError when another process does."""
    path = out / LOCK
    for _ in range(10):  # a lock released and removed between the open and the flock: again
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid(fd)
            os.close(fd)
            if holder == os.getppid():
                return None
            who = f"process {holder}" if holder else "another process"
            raise InputError(
                f"--out {out} is in use by another training run ({who}); wait for it to end "
                "or choose another --out"
            ) from None
        if _same_file(fd, path):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise InputError(f"--out {out}: cannot take the run's lock ({path} keeps changing)")


def _pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    """Is the locked file still the one at ``path`` (not removed by the run that held it)?"""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
