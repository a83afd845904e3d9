"""How many entries a zip archive (.npz maps, torch checkpoints) holds, read before zipfile
reads them.

zipfile.ZipFile builds an object for every entry of the central directory as it opens the
file: a 254 MB .npz of a few million empty entries took 2 GB before any check could run. The
end-of-central-directory record (and the zip64 one, for large archives) says how many entries
there are and how many bytes the directory takes; both are checked here first (zipfile
reads the directory by its size, so the size bounds the work, whatever the count says).
"""

from __future__ import annotations

import struct
from typing import IO

from qkv.errors import InputError

_END = b"PK\x05\x06"  # end of central directory, 22 bytes and a comment of up to 65,535
_END64_LOCATOR = b"PK\x06\x07"  # 20 bytes, just before the end record
_END64 = b"PK\x06\x06"  # 56 bytes
_MAX_TAIL = 22 + 65_535


def directory(f: IO[bytes]) -> tuple[int, int]:
    """(entries, bytes of the central directory) of the zip archive in the seekable ``f``;
    ValueError when it has no readable end record."""
    f.seek(0, 2)
    size = f.tell()
    start = max(0, size - _MAX_TAIL)
    f.seek(start)
    tail = f.read(size - start)
    at = tail.rfind(_END)
    if at < 0 or len(tail) - at < 22:
        raise ValueError("no end-of-central-directory record")
    fields = struct.unpack("<4s4H2LH", tail[at : at + 22])
    entries, length, offset = fields[4], fields[5], fields[6]
    if 0xFFFF in (fields[3], entries) or 0xFFFFFFFF in (length, offset):
        entries, length = _zip64(f, tail, at, start)
    f.seek(0)
    return entries, length


def _zip64(f: IO[bytes], tail: bytes, at: int, start: int) -> tuple[int, int]:
    locator = at - 20
    if locator < 0 or tail[locator : locator + 4] != _END64_LOCATOR:
        raise ValueError("a zip64 archive without its locator")
    _, _, record_at, _ = struct.unpack("<4sLQL", tail[locator : locator + 20])
    f.seek(record_at)
    record = f.read(56)
    if len(record) < 56 or record[:4] != _END64:
        raise ValueError("a zip64 archive without its end record")
    fields = struct.unpack("<4sQ2H2L4Q", record)
    return fields[7], fields[8]


def check_directory(f: IO[bytes], what: str, max_entries: int, max_bytes: int) -> None:
    """InputError when the archive holds more entries, or a larger directory, than a file of
    its kind ever has; ValueError when it is no zip archive."""
    entries, length = directory(f)
    if entries > max_entries or length > max_bytes:
        raise InputError(
            f"{what} holds {entries:,} entries in a directory of {length:,} bytes; a file of "
            f"this kind has at most {max_entries:,} entries and {max_bytes:,} bytes"
        )
