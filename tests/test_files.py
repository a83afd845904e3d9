"""qkv.files: the one rule for reading (a byte limit counted while reading) and for writing
(complete or nothing, regular files only). Issue 11, defects 1, 2, 3, 7 and 8."""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qkv import files, limits
from qkv.errors import InputError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def special_targets(tmp_path: Path) -> dict[str, Path]:
    """A folder, a FIFO, a socket and two symbolic links, all inside tmp_path."""
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "socket"))
    sock.close()
    (tmp_path / "real.txt").write_text("keep me")
    (tmp_path / "link").symlink_to(tmp_path / "real.txt")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere.txt")
    return {
        "folder": tmp_path / "folder",
        "FIFO": tmp_path / "fifo",
        "socket": tmp_path / "socket",
        "symbolic link": tmp_path / "link",
        "dangling link": tmp_path / "dangling",
    }


def test_defect2_special_files_and_links_are_never_written(tmp_path):
    """Defect 2: -o renamed over a device (/dev/null became a regular file as root), a named
    pipe or a symbolic link. Now each is refused, and left as it was."""
    for what, target in special_targets(tmp_path).items():
        before = os.lstat(target)
        with pytest.raises(InputError, match="qkv writes only regular files") as e:
            files.write_text(target, "data")
        assert "\n" not in str(e.value), what
        after = os.lstat(target)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino), what
    assert (tmp_path / "real.txt").read_text() == "keep me"
    assert not (tmp_path / "nowhere.txt").exists()
    assert not [n for n in names(tmp_path) if files.TMP_MARK in n]


def test_defect2_the_mode_of_a_replaced_file_is_kept(tmp_path):
    """Defect 2: a file of mode 600 came back 644."""
    target = tmp_path / "secret.json"
    target.write_text("old")
    target.chmod(0o600)
    files.write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    fresh = files.write_text(tmp_path / "fresh.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_defect1_writers_get_a_file_object_so_no_library_renames_anything(tmp_path):
    """Defect 1: numpy appended .npz to the temporary name, so an empty file was renamed onto
    the target and the data sat in a hidden .X.*.npz."""
    target = tmp_path / "maps.bin"
    files.write_file(target, lambda f: np.savez_compressed(f, a=np.arange(5)))
    with np.load(target) as data:
        assert data["a"].tolist() == [0, 1, 2, 3, 4]
    assert names(tmp_path) == ["maps.bin"]


def test_defect8_an_error_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(f):
        f.write(b"half")
        raise RuntimeError("midway")

    with pytest.raises(RuntimeError):
        files.write_file(target, fail)
    assert target.read_text() == "old" and names(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_defect7_a_full_or_read_only_disk_is_one_line(tmp_path, code):
    """Defect 7: a full or read-only disk gave a traceback."""

    def refuse(f):
        raise OSError(code, os.strerror(code))

    with pytest.raises(InputError) as e:
        files.write_file(tmp_path / "out.txt", refuse)
    assert os.strerror(code) in str(e.value) and "\n" not in str(e.value)
    assert names(tmp_path) == []


def test_a_missing_folder_and_a_long_name(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        files.write_text(tmp_path / "missing" / "out.txt", "x")
    long = tmp_path / ("n" * 250)  # a temporary name .NAME.qkv-….tmp would be too long
    files.write_text(long, "x")
    assert names(tmp_path) == ["n" * 250]


KILLED_WRITER = """
import sys, time
from qkv import files
def write(f):
    f.write(b"partial")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
files.write_file(sys.argv[1], write)
"""


def test_defect8_a_killed_writer_leaves_a_temporary_the_next_write_removes(tmp_path):
    """Defect 8: SIGKILL during a write left a hidden temporary file forever. A live
    writer's temporary is left alone (it holds a lock); a dead one's is removed."""
    target = tmp_path / "out.txt"
    target.write_text("old")
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"writing"
        temporaries = [n for n in names(tmp_path) if files.TMP_MARK in n]
        assert len(temporaries) == 1
        files.write_text(target, "while the other writes")  # the live writer's stays
        assert temporaries[0] in names(tmp_path)
    finally:
        proc.kill()
        proc.wait()
    assert temporaries[0] in names(tmp_path)  # what SIGKILL leaves
    files.write_text(target, "new")
    assert names(tmp_path) == ["out.txt"] and target.read_text() == "new"


def test_defect3_a_read_stops_at_the_limit_whatever_the_size_says(tmp_path):
    """Defect 3: /dev/zero, pipes and other files that report size 0 were read until
    MemoryError. /dev/zero is only opened for reading here."""
    with pytest.raises(InputError, match="larger than 1,000 bytes"):
        files.read_bytes("/dev/zero", "article", 1000)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    stop = threading.Event()

    def endless():
        try:
            with open(fifo, "wb") as f:
                while not stop.is_set():
                    f.write(b"x" * 4096)
        except BrokenPipeError:  # the reader stopped at its limit and closed
            return

    feeder = threading.Thread(target=endless, daemon=True)
    feeder.start()
    try:
        with pytest.raises(InputError, match="larger than"):
            files.read_bytes(fifo, "--input", 100_000)
    finally:
        stop.set()
    feeder.join(timeout=5)


def test_a_pipe_that_sends_nothing_is_an_error_not_a_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "PIPE_IDLE_SECONDS", 0.2)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    opened = []

    def hold():
        opened.append(open(fifo, "wb"))  # noqa: SIM115 (closed at the end of the test)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()  # a writer that opens the pipe and never writes
    start = time.monotonic()
    try:
        with pytest.raises(InputError, match=r"sent nothing for 0\.2 s"):
            files.read_bytes(fifo, "article", 1000)
    finally:
        holder.join(timeout=5)
        for f in opened:
            f.close()
    assert time.monotonic() - start < 3


def test_reading_gives_one_line_for_the_usual_mistakes(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "bin").write_bytes(b"\0\1\2")
    (tmp_path / "latin1").write_bytes("caf\xe9".encode("latin1"))
    for path, message in (
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path / "folder", "is a folder"),
        (tmp_path / "bin", "binary file"),
        (tmp_path / "latin1", "not UTF-8"),
    ):
        with pytest.raises(InputError, match=message):
            files.read_text(path, "article", 1000)
    (tmp_path / "big").write_bytes(b"x" * 2000)
    with pytest.raises(InputError, match="larger than"):
        files.read_text(tmp_path / "big", "article", 1000)
