"""Zip archives of many entries (issue 21): .npz maps and checkpoints are refused by their
end-of-central-directory record, before zipfile builds an object per entry (a 254 MB .npz
of empty entries took 2 GB). Commands run in the fork server with 5 s and 1 GB."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest

from qkv import archive, limits
from tests import samples


def many_entries(n: int) -> bytes:
    """A zip of n empty entries, written directly (zipfile would take long); zip64 from
    65,535 entries on, as zip writers do."""
    out, directory = io.BytesIO(), io.BytesIO()
    for i in range(n):
        name = b"%x" % i
        at = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0))
        out.write(name)
        head = (b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, at)
        directory.write(struct.pack("<4s6H3L5H2L", *head) + name)
    start, cd = out.tell(), directory.getvalue()
    out.write(cd)
    if n < 0xFFFF:
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(cd), start, 0))
    else:
        record = out.tell()
        out.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(cd), start))
        out.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, record, 1))
        end = (b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
        out.write(struct.pack("<4s4H2LH", *end))
    return out.getvalue()


@pytest.mark.parametrize("n", [3, 1000, 70_000])
def test_the_directory_is_read_from_the_end_record(n):
    entries, size = archive.directory(io.BytesIO(many_entries(n)))
    assert entries == n and size == sum(46 + len(b"%x" % i) for i in range(n))
    assert len(zipfile.ZipFile(io.BytesIO(many_entries(min(n, 1000)))).infolist()) == min(n, 1000)


def test_a_real_npz_and_a_real_checkpoint_pass():
    entries, _ = archive.directory(io.BytesIO(samples.maps_npz()))
    assert entries == 3 <= limits.MAP_ZIP_ENTRIES


@pytest.mark.parametrize("n", [limits.MAP_ZIP_ENTRIES + 1, 70_000, 400_000])
def test_maps_of_many_entries_are_refused_before_they_are_read(qkv_cli, tmp_path, n):
    (tmp_path / "m.npz").write_bytes(many_entries(n))
    out = qkv_cli(["viz", "--maps", "m.npz", "--view", "summary"], tmp_path)
    err = out.stderr.decode()
    assert out.rc == 2 and out.why == "" and f"holds {n:,} entries" in err, err


def test_a_checkpoint_of_many_entries_is_refused_before_it_is_read(qkv_cli, tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "c.pt").write_bytes(many_entries(400_000))
    out = qkv_cli(["gpt", "sample", "--checkpoint", "c.pt", "--prompt", "a"], tmp_path)
    err = out.stderr.decode()
    assert out.rc == 2 and out.why == "" and "holds 400,000 entries" in err, err
    samples.save_state(samples.tiny_state(), tmp_path / "ok.pt")  # a real one still loads
    good = ["gpt", "sample", "--checkpoint", "ok.pt", "--prompt", samples.VOCAB[0]]
    assert qkv_cli(good, tmp_path).rc == 0


def test_a_file_that_is_no_zip_is_one_line(qkv_cli, tmp_path):
    with open(tmp_path / "m.npz", "wb") as f:
        np.save(f, np.zeros(3))  # a .npy, not an .npz
    out = qkv_cli(["viz", "--maps", "m.npz", "--view", "summary"], tmp_path)
    assert out.rc == 2 and b"not a readable attention-maps file" in out.stderr
