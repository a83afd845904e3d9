"""The defects of issue 11's hostile-input review, each kept fixed by a test named after it.

Every command runs in a child of the fork server (tests/isolate.py) with 5 s and 1 GB, as the
review ran them: a regression shows as a timeout or an internal error here, not as a hung
suite. ``QKV_TEST_SRC=/path/to/old/src`` runs the same cases against another copy of qkv
(that is how each test was seen to fail before its fix).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from pathlib import Path

import numpy as np
import pytest

from tests import samples

ARTICLES = Path(__file__).parent / "articles"
torch = pytest.importorskip("torch")


def one_line_error(out, verb: str = "") -> str:
    """Exit 2, nothing on stdout, one line on stderr (no traceback): that line."""
    err = out.stderr.decode("utf-8", "replace")
    assert out.rc == 2, (out.rc, out.why, err[-2000:])
    assert out.stdout == b"", out.stdout[:200]
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and err.startswith(f"qkv {verb}")
    return err


def ok(out) -> str:
    err = out.stderr.decode("utf-8", "replace")
    assert out.rc == 0, (out.rc, out.why, err[-2000:])
    return out.stdout.decode("utf-8", "replace")


@pytest.fixture
def ckpt(tmp_path):
    return samples.save_state(samples.tiny_state(), tmp_path / "ckpt.pt")


# ------------------------------------------------------------------ 1. data loss


def test_defect1_maps_go_to_exactly_the_name_given(qkv_cli, tmp_path, ckpt):
    """gpt attention -o X and viz --save X, X not ending in .npz: the data went to a hidden
    .X.*.npz and X was left empty (0 bytes, exit 0)."""
    ok(
        qkv_cli(
            ["gpt", "attention", "--checkpoint", ckpt, "--prompt", "我爱吃", "-o", "m.bin"],
            tmp_path,
        )
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "m.bin"]
    with np.load(tmp_path / "m.bin") as data:
        assert data["maps"].shape == (1, 2, 3, 3)
    (tmp_path / "in.npz").write_bytes(samples.maps_npz())
    ok(qkv_cli(["viz", "--maps", "in.npz", "--view", "summary", "--save", "copy"], tmp_path))
    with np.load(tmp_path / "copy") as data:
        assert data["maps"].shape == (1, 2, 3, 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_defect1_gpt_attention_never_writes_over_the_checkpoint_it_reads(qkv_cli, tmp_path):
    folder = tmp_path / "gB"
    folder.mkdir()
    samples.save_state(samples.tiny_state(), folder / "checkpoint.pt")
    before = (folder / "checkpoint.pt").read_bytes()
    out = qkv_cli(
        ["gpt", "attention", "--checkpoint", "gB", "--prompt", "我爱吃", "-o", "gB/checkpoint.pt"],
        tmp_path,
    )
    assert "is the checkpoint read" in one_line_error(out, "gpt attention")
    assert (folder / "checkpoint.pt").read_bytes() == before


# ------------------------------------------------------------------ 2. special files, modes


def _specials(tmp_path: Path, suffix: str) -> list[str]:
    """A FIFO, a socket, a folder and a symbolic link named *suffix."""
    names = [f"{n}{suffix}" for n in ("fifo", "sock", "dir", "link")]
    os.mkfifo(tmp_path / names[0])
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / names[1]))
    s.close()
    (tmp_path / names[2]).mkdir()
    (tmp_path / "real.txt").write_text("keep")
    (tmp_path / names[3]).symlink_to("real.txt")
    return names


@pytest.mark.parametrize(
    "argv, suffix",
    [
        (["explain", "--format", "json", "-o"], ""),
        (["check", str(ARTICLES / "en_tables_ok.md"), "-o"], ""),
        (["viz", "-o"], ".png"),
        (["viz", "--view", "trace", "-o"], ".html"),
        (["viz", "--maps", "in.npz", "--view", "summary", "--save"], ""),
        (["viz", "--maps", "in.npz", "--view", "summary", "-o"], ".svg"),
        (["gpt", "attention", "--checkpoint", "ckpt.pt", "--prompt", "我爱", "-o"], ""),
        (["gpt", "attention", "--checkpoint", "ckpt.pt", "--prompt", "我爱", "--html"], ".html"),
    ],
)
def test_defect2_outputs_never_replace_devices_pipes_sockets_folders_or_links(
    qkv_cli, tmp_path, argv, suffix, ckpt
):
    """-o renamed over whatever was there: as root, -o /dev/null replaced the system's
    /dev/null with a regular file. A FIFO and a socket stand in for the device here."""
    (tmp_path / "in.npz").write_bytes(samples.maps_npz())
    for name in _specials(tmp_path, suffix):
        before = os.lstat(tmp_path / name)
        out = qkv_cli([*argv, name], tmp_path)
        assert "qkv writes only regular files" in one_line_error(out), name
        after = os.lstat(tmp_path / name)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert (tmp_path / "real.txt").read_text() == "keep"


def test_defect2_the_mode_of_the_file_replaced_is_kept(qkv_cli, tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    target.chmod(0o600)
    ok(qkv_cli(["explain", "--format", "json", "-o", "out.json"], tmp_path))
    assert json.loads(target.read_text())["schema"] == "qkv.trace/1"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# ------------------------------------------------------------------ 3. unbounded reads


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "/dev/zero"], "larger than 5 MB"),
        (["explain", "--input", "/dev/zero"], "larger than 5 MB"),
        (["explain", "--x", "@/dev/zero"], "larger than 5 MB"),
        (["gpt", "train", "--text", "/dev/zero", "--out", "g"], "larger than 50 MB"),
    ],
)
def test_defect3_dev_zero_stops_at_the_limit(qkv_cli, tmp_path, argv, message):
    """/dev/zero (opened for reading only) passed the size checks and was read until
    MemoryError; now reading stops at the limit."""
    assert message in one_line_error(qkv_cli(argv, tmp_path, seconds=10))
    assert list(tmp_path.iterdir()) == []


def test_defect3_stdin_stops_at_the_limit(qkv_cli, tmp_path):
    out = qkv_cli(["check", "-"], tmp_path, stdin=b"# x\n" * 1_500_000)
    assert "from standard input is larger than 5 MB" in one_line_error(out, "check")


# ------------------------------------------------------------------ 4. CPU from tiny inputs


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--x", "[[1e100000000]]"], "too large"),
        (["--x", "[[1e-100000, 1]]"], "too small"),
        (["--x", "1e999999999999 2\n3 4"], "too large"),
        (["--x", "[[1]]", "--scale", "1e100000000"], "too large"),
        (["--x", "1 3/1" + "0" * 100], "digits"),
    ],
)
def test_defect4_huge_exponents_are_refused_at_once(qkv_cli, tmp_path, argv, message):
    """--x [[1e100000000]] and [[1e-100000, 1]] ran for minutes of exact arithmetic."""
    out = qkv_cli(["explain", *argv], tmp_path, seconds=5)
    assert message in one_line_error(out, "explain")
    assert out.why == "" and out.cpu < 5


CHECK_DOS = {
    "a 1 MB line of [": "[" * 1_000_000,
    "440 KB of unclosed bmatrix": r"\begin{bmatrix}" * 30_000,
    "1 MB of small bracket matrices": "[1, 2]\n[3, 4]\n\n" * 70_000,
}


@pytest.mark.parametrize("name", sorted(CHECK_DOS))
def test_defect4_check_finishes_hostile_articles_in_time(qkv_cli, tmp_path, name):
    (tmp_path / "a.md").write_text(CHECK_DOS[name])
    out = qkv_cli(["check", "a.md"], tmp_path, seconds=5)
    assert out.rc in (0, 1, 2, 3) and out.why == "" and b"Traceback" not in out.stderr


# ------------------------------------------------------------------ 5. sizes before work


def test_defect5_explain_sizes_are_bounded_before_any_work(qkv_cli, tmp_path):
    """3,000 tokens x d = 2 took 83 s and 5.4 GB; 10^4 tokens ended in MemoryError; a 3500 x
    3500 CSV ran two minutes before 'too large'."""
    rng = np.random.default_rng(0)
    (tmp_path / "3000.json").write_text(json.dumps(rng.integers(-5, 5, (3000, 2)).tolist()))
    (tmp_path / "1e4.json").write_text(json.dumps(rng.integers(-5, 5, (10_000, 2)).tolist()))
    row = ",".join(["1"] * 1500)
    (tmp_path / "wide.csv").write_text((row + "\n") * 1100)  # 3.3 MB: under the byte limit
    for name, message in (
        ("3000.json", "X has 3,000 rows (tokens); at most 256"),
        ("1e4.json", "X has 10,000 rows (tokens); at most 256"),
        ("wide.csv", "has 1,100 rows; at most 1,024"),
    ):
        out = qkv_cli(["explain", "--input", name, "--format", "json"], tmp_path, seconds=5)
        assert message in one_line_error(out, "explain"), name
        assert out.why == "" and out.cpu < 5


def test_defect5_an_npz_declaring_gigabytes_is_refused_before_loading(qkv_cli, tmp_path):
    """An 8 MB .npz declaring 8 GiB of maps tried to allocate them."""
    (tmp_path / "big.npz").write_bytes(samples.declared_npz((8, 16, 4096, 4096)))
    out = qkv_cli(["viz", "--maps", "big.npz", "--view", "summary"], tmp_path)
    assert "too large" in one_line_error(out, "viz")
    assert out.grown_mb < 200


def test_defect5_a_text_with_too_many_distinct_characters_is_refused(qkv_cli, tmp_path):
    """A training text with 1.1 M distinct characters tried a 4.5 GB embedding."""
    hanzi = "".join(chr(c) for c in range(0x4E00, 0xA000))  # 20,992
    hangul = "".join(chr(c) for c in range(0xAC00, 0xD7A4))  # 11,172
    (tmp_path / "t.txt").write_text((hanzi + hangul) * 2)
    out = qkv_cli(["gpt", "train", "--text", "t.txt", "--out", "g", "--steps", "1"], tmp_path)
    assert "distinct characters" in one_line_error(out, "gpt train")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]  # no --out folder made


def test_defect5_a_checkpoint_declaring_a_huge_model_is_refused(qkv_cli, tmp_path):
    state = samples.tiny_state()
    state["config"]["n_embd"] = 4096
    state["config"]["n_layer"] = 48
    samples.save_state(state, tmp_path / "ckpt.pt")
    out = qkv_cli(["gpt", "sample", "--checkpoint", "ckpt.pt", "--prompt", "我"], tmp_path)
    assert "parameters" in one_line_error(out, "gpt sample")
    assert out.grown_mb < 200


# ------------------------------------------------------------------ 6. silent wrong results


def test_defect6_a_json_mask_means_may_attend_as_mask_file_does(qkv_cli, tmp_path):
    """ "mask": [[1,0],[1,1]] in --input JSON was added to the scores (+1/+0)."""
    (tmp_path / "in.json").write_text('{"x": [[1, 2], [3, 4]], "mask": [[1, 0], [1, 1]]}')
    (tmp_path / "x.json").write_text("[[1, 2], [3, 4]]")
    (tmp_path / "m.txt").write_text("1 0\n1 1\n")
    runs = [
        ["explain", "--input", "in.json", "--format", "json"],
        ["explain", "--input", "x.json", "--mask", "m.txt", "--format", "json"],
    ]
    weights = []
    for argv in runs:
        steps = json.loads(ok(qkv_cli(argv, tmp_path)))["steps"]
        weights.append(next(s["matrix"] for s in steps if s["id"] == "weights"))
    assert weights[0] == weights[1]
    assert weights[0][0] == [1.0, 0.0]  # query 1 may not see key 2
    (tmp_path / "bad.json").write_text('{"x": [[1, 2], [3, 4]], "mask": [[1, 0.5], [1, 1]]}')
    out = qkv_cli(["explain", "--input", "bad.json"], tmp_path)
    assert "use 0 or 1 (1 = may attend)" in one_line_error(out, "explain")


def test_defect6_a_scale_that_overflows_is_refused_not_nan(qkv_cli, tmp_path):
    """--scale 1e308 was accepted and gave NaN weights with exit 0."""
    for scale, message in (("1e308", "too large"), ("1e300", "float64 overflows")):
        out = qkv_cli(["explain", "--x", "[[1e10, 2], [3, 4]]", "--scale", scale], tmp_path)
        assert message in one_line_error(out, "explain")


def test_defect6_nan_maps_never_make_invalid_json(qkv_cli, tmp_path):
    """NaN maps produced a bare NaN in the summary's JSON."""
    w = samples.random_weights(1, 2, 3)
    w[0, 1, 2, 0] = np.nan
    (tmp_path / "nan.npz").write_bytes(samples.maps_npz(maps=w))
    out = qkv_cli(["viz", "--maps", "nan.npz", "--view", "summary", "--format", "json"], tmp_path)
    assert "NaN" in one_line_error(out, "viz")
    (tmp_path / "ok.npz").write_bytes(samples.maps_npz())
    text = ok(
        qkv_cli(["viz", "--maps", "ok.npz", "--view", "summary", "--format", "json"], tmp_path)
    )

    def strict(name):
        raise AssertionError(f"{name} is not JSON")

    assert len(json.loads(text, parse_constant=strict)["heads"]) == 2


def test_defect6_key_indices_above_65535_do_not_wrap():
    """Key 66,000 was shown as 464 in the HTML views (uint16)."""
    import base64

    from qkv.maps import AttentionMaps
    from qkv.viz.page import encode, page

    s = 66_001
    w = np.zeros((1, 1, 1, s), dtype=np.float32)
    w[0, 0, 0, 66_000] = 1.0
    data = encode(AttentionMaps(w, ["q"]))
    assert data["idx_bytes"] == 4
    idx = np.frombuffer(base64.b64decode(data["idx"]), "<u4")
    assert idx.tolist() == [66_000]
    assert "D.idx_bytes === 4 ? Uint32Array" in page(AttentionMaps(w[..., :4] + 0.25, ["q"]))


# ------------------------------------------------------------------ 7. tracebacks


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--x", "[[1e400]]"], "too large"),
        (["--x", "[[1]]", "--scale", "1e400"], "too large"),
        (["--x", "[[" + "7" * 5000 + "]]"], "5,000 digits"),
        (["--x", "[" * 5000 + "]" * 5000], "nested too deeply"),
        (["--x", "[[1, 2], [3, 4]]", "--wq", "[[1], [0]]"], "Q and K do not fit"),
        (["--x", "[[1, 2]]", "--expand", "9" * 5000 + ",1"], "out of range"),
    ],
)
def test_defect7_bad_numbers_and_shapes_are_one_line(qkv_cli, tmp_path, argv, message):
    """[[1e400]], --scale 1e400, a 5,000-digit number, 5,000-deep nesting and --wq without
    a fitting --wk gave tracebacks."""
    assert message in one_line_error(qkv_cli(["explain", *argv], tmp_path), "explain")


def test_defect7_explain_into_a_folder_is_one_line(qkv_cli, tmp_path):
    (tmp_path / "d").mkdir()
    out = qkv_cli(["explain", "-o", "d"], tmp_path)
    assert "it is a folder" in one_line_error(out, "explain")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_defect7_explain_onto_a_full_or_read_only_disk_is_one_line(
    tmp_path, monkeypatch, capsys, code
):
    """A full or read-only disk gave a traceback (simulated: the disk's error is raised
    when the written data is flushed to it)."""
    from qkv import files
    from qkv.cli.main import main

    def refuse(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os, "fsync", refuse)
    (tmp_path / "out.json").write_text("old")
    assert main(["explain", "--format", "json", "-o", str(tmp_path / "out.json")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and os.strerror(code) in err
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert (tmp_path / "out.json").read_text() == "old"


def test_defect7_check_1e400_in_an_article(qkv_cli, tmp_path):
    """1e400 in an article's table was an OverflowError traceback."""
    (tmp_path / "a.md").write_text(
        "X = [[1e400, 0], [0, 1]]\n\n| | a | b |\n|---|---|---|\n"
        "| a | 1e400 | 2 |\n| b | 3 | 1e-400 |\n"
    )
    out = qkv_cli(["check", "a.md"], tmp_path)
    assert out.rc in (0, 1, 2, 3), out.stderr
    assert b"internal error" not in out.stderr and b"Traceback" not in out.stderr


def test_defect7_dollar_signs_in_tokens_are_drawn_as_text(qkv_cli, tmp_path):
    r"""A token $\x$ made matplotlib's mathtext fail; $x^2$ was silently drawn as math."""
    (tmp_path / "m.npz").write_bytes(samples.maps_npz(tokens=[r"$\x$", "$x^2$", "a$b"]))
    ok(qkv_cli(["viz", "--maps", "m.npz", "-o", "h.svg"], tmp_path))
    svg = (tmp_path / "h.svg").read_text()
    assert "$x^2$" in svg and r"$\x$" in svg


@pytest.mark.parametrize("token", ["\ufeff", "\u200b", "\x00", "\ue000"])
def test_defect7_tokens_without_a_glyph_are_drawn_in_every_format(qkv_cli, tmp_path, token):
    """A token U+FEFF (found by the fuzz suite) made matplotlib's PDF writer fail."""
    (tmp_path / "m.npz").write_bytes(samples.maps_npz(tokens=[token, "b", "c"]))
    for name in ("h.pdf", "h.svg", "h.png"):
        ok(qkv_cli(["viz", "--maps", "m.npz", "-o", name], tmp_path))
        assert (tmp_path / name).stat().st_size > 0


BAD_NPZ = {
    "truncated": samples.maps_npz()[:100],
    "empty": b"",
    "string maps": samples.npz_bytes(
        maps=np.array([[[["a"]]]]),
        tokens=np.array(["a"]),
        meta=np.array('{"schema": "qkv.maps/1"}'),
    ),
    "zero tokens": samples.maps_npz(n=0, maps=np.zeros((1, 1, 0, 0), np.float32), tokens=[]),
    "meta a list": samples.maps_npz(meta=["qkv.maps/1"]),
    "meta not JSON": samples.npz_bytes(
        maps=samples.random_weights(1, 1, 1), tokens=np.array(["a"]), meta=np.array("{")
    ),
    "3 dimensions": samples.npz_bytes(
        maps=np.ones((1, 1, 1), np.float32),
        tokens=np.array(["a"]),
        meta=np.array('{"schema": "qkv.maps/1"}'),
    ),
    "pickled tokens": samples.npz_bytes(
        maps=samples.random_weights(1, 1, 1),
        tokens=np.array([object()], dtype=object),
        meta=np.array('{"schema": "qkv.maps/1"}'),
    ),
    "special not positions": samples.maps_npz(meta={"schema": "qkv.maps/1", "special": ["x"]}),
    "weights above 1": samples.maps_npz(maps=np.full((1, 1, 3, 3), 7.0, np.float32)),
    # found by the fuzz suite: what zipfile raises besides BadZipFile
    "encrypted member": samples.with_zip_flag(samples.maps_npz(), 0),
    "patched-data flag": samples.with_zip_flag(samples.compressed_maps_npz(), 5),
    "broken deflate stream": samples.broken_deflate(samples.compressed_maps_npz()),
}


@pytest.mark.parametrize("name", sorted(BAD_NPZ))
def test_defect7_bad_npz_files_are_one_line(qkv_cli, tmp_path, name):
    (tmp_path / "m.npz").write_bytes(BAD_NPZ[name])
    for view in (["--view", "summary"], ["-o", "h.png"], ["--view", "model", "-o", "v.html"]):
        out = qkv_cli(["viz", "--maps", "m.npz", *view], tmp_path)
        one_line_error(out, "viz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_defect7_save_into_a_missing_folder_is_one_line(qkv_cli, tmp_path):
    (tmp_path / "m.npz").write_bytes(samples.maps_npz())
    out = qkv_cli(["viz", "--maps", "m.npz", "--view", "summary", "--save", "no/m.npz"], tmp_path)
    assert "does not exist" in one_line_error(out, "viz")


def _broken_states():
    def change(**edits):
        state = samples.tiny_state()
        for path, value in edits.items():
            target = state
            *parents, last = path.split("__")
            for p in parents:
                target = target[p]
            if value is KeyError:
                del target[last]
            else:
                target[last] = value
        return state

    return {
        "no vocab": change(vocab=KeyError),
        "no model": change(model=KeyError),
        "vocab shorter than the model": change(vocab=list(samples.VOCAB[:-2])),
        "vocab with repeats": change(vocab=list(samples.VOCAB[:-1] + "我")),
        "vocab of numbers": change(vocab=list(range(len(samples.VOCAB)))),
        "config a list": change(config=[1, 2]),
        "negative layers": change(config__n_layer=-1),
        "string width": change(config__n_embd="8"),
        "unknown config key": change(config__rope=True),
        "heads do not divide": change(config__n_head=3),
        "weights missing": change(model={}),
        "weights of NaN": change(**{"model__blocks.0.ln1.weight": torch.full((8,), float("nan"))}),
        "weights wrong shape": change(**{"model__wte.weight": torch.zeros(3, 3)}),
        "step a string": change(step="7"),
        "train not a table": change(train=None),
        "batch of a billion": change(train__batch_size=10**9),
        "not a dict": [1, 2, 3],
    }


BROKEN = (
    "no vocab", "no model", "vocab shorter than the model", "vocab with repeats",
    "vocab of numbers", "config a list", "negative layers", "string width",
    "unknown config key", "heads do not divide", "weights missing", "weights of NaN",
    "weights wrong shape", "step a string", "train not a table", "batch of a billion",
    "not a dict",
)  # fmt: skip


@pytest.mark.parametrize("name", BROKEN)
def test_defect7_malformed_checkpoints_are_one_line(qkv_cli, tmp_path, name):
    """Checkpoints that load safely but lack keys, a vocabulary shorter than the model, and
    other damage gave tracebacks; each is now named in one line."""
    samples.save_state(_broken_states()[name], tmp_path / "c.pt")
    for verb in (["sample"], ["probe"], ["attention", "-o", "m.npz"]):
        out = qkv_cli(
            ["gpt", verb[0], "--checkpoint", "c.pt", "--prompt", "我", *verb[1:]], tmp_path
        )
        one_line_error(out, f"gpt {verb[0]}")
    out = qkv_cli(["gpt", "train", "--out", ".", "--resume", "--steps", "3"], tmp_path)
    one_line_error(out, "gpt train")


def test_defect7_damaged_checkpoint_bytes_are_one_line(qkv_cli, tmp_path, ckpt):
    data = ckpt.read_bytes()
    for name, blob in (("cut", data[: len(data) // 2]), ("empty", b""), ("noise", os.urandom(999))):
        (tmp_path / name).write_bytes(blob)
        out = qkv_cli(["gpt", "sample", "--checkpoint", name, "--prompt", "我"], tmp_path)
        assert "not a readable checkpoint" in one_line_error(out, "gpt sample")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "--temperature", "nan"], "not a finite number"),
        (["sample", "--temperature", "inf"], "not a finite number"),
        (["sample", "--seed", "1e23"], "not a whole number"),
        (["sample", "--seed", str(10**23)], "between 0 and 2**63 - 1"),
        (["sample", "--max-new-tokens", str(10**9)], "--max-new-tokens must be 1 to 10,000"),
        (["probe", "--top", "-1"], "--top must be at least 1"),
        (["probe", "--candidates", "吃" * 40], "the model sees at most 8"),
        (["attention", "--prompt", "我" * 9], "sees at most 8"),
    ],
)
def test_defect7_bad_gpt_options_are_one_line(qkv_cli, tmp_path, ckpt, argv, message):
    """--temperature nan, --seed 1e23, probe --top -1 and a candidate longer than the
    context gave tracebacks."""
    full = ["gpt", argv[0], "--checkpoint", ckpt, *argv[1:]]
    if "--prompt" not in full:
        full += ["--prompt", "我爱"]
    assert message in one_line_error(qkv_cli(full, tmp_path))


def test_defect7_a_tiny_temperature_samples_greedily(qkv_cli, tmp_path, ckpt):
    """--temperature 1e-45 made the probabilities inf - inf = NaN."""
    base = ["gpt", "sample", "--checkpoint", ckpt, "--prompt", "我爱", "--max-new-tokens", "5"]
    assert ok(qkv_cli([*base, "--temperature", "1e-45"], tmp_path)) == ok(
        qkv_cli([*base, "--temperature", "0"], tmp_path)
    )


def test_defect7_nn_edge_shapes_give_results_or_clear_errors():
    """backend="math" or return_weights with S = 0 raised IndexError (sdpa and tiled gave
    zeros); d = 0, MultiHeadAttention(16, 0) and a KV cache whose batch changed raised raw
    ZeroDivisionError / RuntimeError."""
    from qkv.nn import MultiHeadAttention, attention
    from qkv.nn.modules import KVCache

    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 0, 4), torch.randn(2, 0, 5)
    for backend in ("math", "sdpa", "tiled"):
        assert torch.equal(attention(q, k, v, backend=backend), torch.zeros(2, 3, 5))
    out, w, lse = attention(q, k, v, return_weights=True, return_lse=True)
    assert w.shape == (2, 3, 0) and torch.equal(out, torch.zeros(2, 3, 5))
    assert torch.all(lse == float("-inf"))
    with pytest.raises(ValueError, match="head dim d"):
        attention(torch.randn(2, 3, 0), torch.randn(2, 3, 0), torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="must be at least 1"):
        MultiHeadAttention(16, 0)
    with pytest.raises(ValueError, match="key/value heads"):
        attention(torch.randn(1, 4, 3, 8), torch.randn(1, 0, 3, 8), torch.randn(1, 0, 3, 8))
    mha, cache = MultiHeadAttention(16, 4), KVCache(10)
    mha(torch.randn(2, 2, 16), cache=cache, causal=True)
    with pytest.raises(ValueError, match="reset"):
        mha(torch.randn(3, 1, 16), cache=cache, causal=True)
    cache.reset()
    assert mha(torch.randn(3, 1, 16), cache=cache, causal=True)[0].shape == (3, 1, 16)


# ------------------------------------------------------------------ 8. leftovers, late checks


def test_defect8_a_bad_html_name_is_refused_before_the_maps_are_written(qkv_cli, tmp_path, ckpt):
    """gpt attention --html x.htm wrote the .npz before rejecting the name."""
    out = qkv_cli(
        ["gpt", "attention", "--checkpoint", ckpt, "--prompt", "我爱", "--html", "x.htm"], tmp_path
    )
    assert "FILE.html" in one_line_error(out, "gpt attention")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_defect8_a_bad_train_out_is_found_before_training(qkv_cli, tmp_path):
    """train --out that is an existing file was found only at the first evaluation."""
    (tmp_path / "file").write_text("x")
    out = qkv_cli(["gpt", "train", "--out", "file", "--steps", "400"], tmp_path, seconds=5)
    assert "is not a folder" in one_line_error(out, "gpt train")
    out = qkv_cli(["gpt", "train", "--out", "file/sub", "--steps", "400"], tmp_path, seconds=5)
    one_line_error(out, "gpt train")
    assert (tmp_path / "file").read_text() == "x"


def test_defect8_a_read_only_out_is_found_before_training(tmp_path, monkeypatch):
    """(As root the permission bits do not stop writes: a read-only folder is simulated.)"""
    from qkv.errors import InputError
    from qkv.gpt import train

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    with pytest.raises(InputError, match="not writable"):
        train.prepare_out(tmp_path)
    with pytest.raises(InputError, match="cannot make a folder"):
        train.prepare_out(tmp_path / "new")


# ------------------------------------------------------------------ 9. minor


def test_defect9_a_label_column_is_announced(qkv_cli, tmp_path):
    """A first CSV column that is not numbers silently became token labels."""
    (tmp_path / "x.csv").write_text("a,1,2\nb,3,4\n")
    out = qkv_cli(["explain", "--input", "x.csv", "--format", "json"], tmp_path)
    ok(out)
    assert b"note: the first column of x.csv is taken as token labels (a, b)" in out.stderr
    out = qkv_cli(["explain", "--x", "a,1,2\nb,3,4"], tmp_path)
    assert "token labels go in --tokens" in one_line_error(out, "explain")


ESC = "\x1b]0;owned\x07\x1b[2J"


def test_defect9_terminal_escapes_are_shown_not_sent(qkv_cli, tmp_path):
    """Escape sequences in tokens were printed raw to the terminal."""
    text = ok(qkv_cli(["explain", "--x", "[[1, 2], [3, 4]]", "--tokens", f"a{ESC},b"], tmp_path))
    assert "\x1b" not in text and "\x07" not in text and "a␛]0;owned␇␛[2J" in text
    (tmp_path / "a.md").write_text(f"# x{ESC}\n\n| a{ESC} | b |\n|---|---|\n| 1 | 2 |\n")
    out = qkv_cli(["check", "a.md"], tmp_path)
    assert b"\x1b" not in out.stdout and b"\x1b" not in out.stderr
    state = samples.tiny_state(vocab="ab\x1bcdefg")
    samples.save_state(state, tmp_path / "c.pt")
    out = qkv_cli(
        ["gpt", "sample", "--checkpoint", "c.pt", "--prompt", "a\x1b", "--max-new-tokens", "20"],
        tmp_path,
    )
    assert "␛" in ok(out) and b"\x1b" not in out.stdout
    out = qkv_cli(["explain", "--x", f"[[1{ESC}]]"], tmp_path)
    assert b"\x1b" not in out.stderr


def test_defect9_a_placeholder_in_a_title_stays_text():
    """{{DATA}} in a title was replaced by the data."""
    from qkv.maps import AttentionMaps
    from qkv.viz.page import page

    html = page(
        AttentionMaps(samples.random_weights(1, 1, 2), ["{{TITLE}}", "b"]), title="x {{DATA}} y"
    )
    assert "<title>x {{DATA}} y</title>" in html
    assert html.count('"layers": 1') == 1 and '"{{TITLE}}"' in html


def test_defect9_text_without_a_model_is_refused(qkv_cli, tmp_path):
    """--text without --model was ignored."""
    out = qkv_cli(["viz", "--text", "The cat", "--view", "summary"], tmp_path)
    assert "give --model too" in one_line_error(out, "viz")


def test_defect9_duplicate_tokens_are_accepted_with_a_word(qkv_cli, tmp_path):
    out = qkv_cli(["explain", "--x", "[[1, 0], [0, 1], [1, 1]]", "--tokens", "我,爱,我"], tmp_path)
    ok(out)
    assert "note: token 我 appears more than once" in out.stderr.decode()


@pytest.mark.parametrize(
    "argv",
    [
        ["--x", "[[1], [[2]]]"],
        ["--x", "[[1, [2]]]"],
        ["--x", '[[1, {"a": 1}]]'],
        ["--x", "[[1, null]]"],
        ["--x", "[[1, 2]]", "--scale", "-1"],
        ["--input", "m.json"],
    ],
)
def test_defect9_errors_never_print_fraction_reprs(qkv_cli, tmp_path, argv):
    """Error messages printed Fraction(1, 1)."""
    (tmp_path / "m.json").write_text('{"x": [[1, 2]], "mask": [[2, 1]]}')
    err = one_line_error(qkv_cli(["explain", *argv], tmp_path), "explain")
    assert "Fraction(" not in err
