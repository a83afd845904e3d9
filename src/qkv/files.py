"""Files in and out, each by one rule (docs/SECURITY.md, "Files").

Reading: at most ``limit`` bytes, counted while reading (stat's size is never trusted, so
/dev/zero, a pipe or a growing file stop at the limit); a pipe, FIFO or device that sends
nothing for ``limits.PIPE_IDLE_SECONDS`` is an error; "-" is standard input.

Writing: complete or nothing, and only regular files. The content goes to a temporary file
beside the target, handed to the writer as an open file object (so no library can rename it,
as numpy's savez does with names that do not end in .npz), flushed to disk, then renamed onto
the target. The target is refused when it exists and is not a regular file (a folder, device,
FIFO or socket: renaming over /dev/null would replace it) or is a symbolic link (qkv never
writes through a link: remove it, or name the file it points to). An existing file keeps its
mode (and, where allowed, its owner). The temporary file is removed on every error; one left
by a killed run (SIGKILL, power loss) is removed by the next write of the same target: a
writer holds a lock on its temporary file, and only unlocked ones are stale.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import select
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from qkv import limits
from qkv.errors import InputError

try:
    import fcntl
except ImportError:  # not on Windows: stale temporaries are then left alone
    fcntl = None  # type: ignore[assignment]

TMP_MARK = ".qkv-"
TMP_SUFFIX = ".tmp"
CHUNK = 1 << 16

KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def kind(mode: int) -> str | None:
    """What a non-regular file is ("a folder", "a device", ...), None for a regular file."""
    return next((name for test, name in KINDS if test(mode)), None)


def _mb(n: int) -> str:
    """A byte limit as people write it: 5 MB, 256 KB (not 0.262144 MB)."""
    if n >= limits.MB:
        return f"{n / limits.MB:g} MB"
    return f"{n / 1024:g} KB" if n % 1024 == 0 else f"{n:,} bytes"


# --------------------------------------------------------------------------- reading


def read_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of a file (or "-" for standard input), at most ``limit`` of them."""
    name = str(path)
    if name == "-":
        return _read_stdin(f"{what} from standard input", limit)
    try:
        # O_NONBLOCK: opening a FIFO that no one writes must not block (cleared below).
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{what} {name} does not exist") from None
    except PermissionError:
        raise InputError(f"{what} {name} cannot be read (permission denied)") from None
    except OSError as e:
        raise InputError(f"{what} {name} cannot be read ({_reason(e, name)})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{what} {name} is a folder, not a file")
        if stat.S_ISREG(mode) and os.fstat(fd).st_size > limit:
            raise InputError(f"{what} {name} is larger than {_mb(limit)}")
        os.set_blocking(fd, True)
        return _read_fd(fd, f"{what} {name}", limit)
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_regular(path: str | Path, what: str, limit: int) -> Iterator[IO[bytes] | None]:
    """A regular file opened for reading, at most ``limit`` bytes long (a regular file's size
    is what it holds), for readers that need to seek (zip); None for anything else, which
    :func:`read_bytes` then reads with its limit."""
    name = str(path)
    try:
        mode = os.stat(name).st_mode if name != "-" else 0
    except FileNotFoundError:
        raise InputError(f"{what} {name} does not exist") from None
    except OSError as e:
        raise InputError(f"{what} {name} cannot be read ({_reason(e, name)})") from None
    if not stat.S_ISREG(mode):
        yield None
        return
    try:
        f = open(name, "rb")  # noqa: SIM115 (closed below)
    except OSError as e:
        raise InputError(f"{what} {name} cannot be read ({_reason(e, name)})") from None
    with f:
        if os.fstat(f.fileno()).st_size > limit:
            raise InputError(f"{what} {name} is larger than {_mb(limit)}")
        yield f


def _read_stdin(what: str, limit: int) -> bytes:
    try:
        fd = sys.stdin.buffer.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an in-memory stream
        data: bytes = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"{what} is larger than {_mb(limit)}") from None
        return data
    return _read_fd(fd, what, limit)


def _read_fd(fd: int, what: str, limit: int) -> bytes:
    """Read to the end, at most ``limit`` bytes; wait at most PIPE_IDLE_SECONDS for each
    chunk from a pipe or device (not from a terminal, where a person may be typing)."""
    mode = os.fstat(fd).st_mode
    wait = not stat.S_ISREG(mode) and not os.isatty(fd)
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            if wait and not select.select([fd], [], [], limits.PIPE_IDLE_SECONDS)[0]:
                raise InputError(
                    f"{what} sent nothing for {limits.PIPE_IDLE_SECONDS:g} s "
                    "(write it to a file first)"
                )
            chunk = os.read(fd, min(CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise InputError(f"{what} cannot be read ({_reason(e, '')})") from None
    if size > limit:
        raise InputError(f"{what} is larger than {_mb(limit)}")
    return b"".join(chunks)


def read_text(path: str | Path, what: str, limit: int) -> str:
    """A UTF-8 text (a BOM is dropped), at most ``limit`` bytes; one-line errors."""
    data = read_bytes(path, what, limit)
    where = "from standard input" if str(path) == "-" else str(path)
    if b"\0" in data[:8192]:
        raise InputError(f"{what} {where} is a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{what} {where} is not UTF-8 text (byte {e.start})") from None


# --------------------------------------------------------------------------- writing


def check_target(path: str | Path, what: str = "output") -> Path:
    """The target as a Path, or InputError when qkv would refuse to write it (see above).

    Called before any work, so that a bad -o is reported before minutes of computing; the
    same checks run again when the file is written.
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise InputError(f"cannot write {what} {path}: it names a folder, not a file")
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise InputError(f"cannot write {what} {path} ({_reason(e, str(path))})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(
            f"cannot write {what} {path}: it is {kind(mode)}; qkv writes only regular files"
        )
    folder = target.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {what} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {what} {path}: folder {folder} is not writable")
    return target


def write_file(
    path: str | Path, write: Callable[[IO[bytes]], object], what: str = "output"
) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    An error, Ctrl-C or a full disk leaves the old file (if any) and no temporary file; an
    OSError becomes one InputError line ("cannot write ...: No space left on device").
    """
    target = check_target(path, what)
    old = os.lstat(target) if target.exists() else None
    _clean_stale(target)
    try:
        with _temporary(target) as (fd, tmp):
            _keep_mode(fd, old)
            with os.fdopen(os.dup(fd), "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            check_target(target, what)  # not replaced by something else meanwhile
            os.replace(tmp, target)
    except OSError as e:
        raise InputError(f"cannot write {what} {path} ({_reason(e, str(path))})") from None
    return target


def write_text(path: str | Path, text: str, what: str = "output") -> Path:
    return write_file(path, lambda f: f.write(text.encode("utf-8")), what)


def _prefix(target: Path) -> str:
    """The start of the target's temporary names: .NAME, shortened for long names."""
    name = target.name
    if len(name.encode("utf-8", "surrogateescape")) > 100:
        digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        name = f"{name[:40]}~{digest}"
    return f".{name}{TMP_MARK}"


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[tuple[int, Path]]:
    """A new, locked temporary file beside the target; removed unless it was renamed."""
    fd, tmp = _create_locked(target)
    try:
        yield fd, tmp
    finally:
        os.close(fd)
        tmp.unlink(missing_ok=True)  # after a successful rename there is nothing there


def _create_locked(target: Path) -> tuple[int, Path]:
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(5):
        tmp = target.parent / f"{_prefix(target)}{secrets.token_hex(6)}{TMP_SUFFIX}"
        fd = os.open(tmp, flags | getattr(os, "O_CLOEXEC", 0), 0o666)  # umask applies
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # a cleaner may have taken it between open and lock: then make another
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)
    raise OSError(errno.EAGAIN, "could not create a temporary file")


def _keep_mode(fd: int, old: os.stat_result | None) -> None:
    """The mode of the file being replaced (and its owner where we may: as root)."""
    if old is None:
        return
    with contextlib.suppress(OSError):
        os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode) & 0o777)


def _clean_stale(target: Path) -> None:
    """Remove temporaries of this target whose writer is gone (their lock is free)."""
    if fcntl is None:
        return
    prefix = _prefix(target)
    try:
        names = [n for n in os.listdir(target.parent) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        if name.endswith(TMP_SUFFIX):
            _remove_if_unlocked(target.parent / name)


def _remove_if_unlocked(tmp: Path) -> None:
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tmp.unlink(missing_ok=True)
    except OSError:
        return  # locked: a live writer's
    finally:
        os.close(fd)


def _reason(e: OSError, name: str) -> str:
    """An OSError as words without the file names Python adds."""
    if e.errno == errno.ENXIO:
        return "it is a socket or a device without a reader"
    text = e.strerror or type(e).__name__
    return text if not name else text.replace(name, "").strip(" :'")
