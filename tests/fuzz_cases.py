"""Hypothesis strategies for the fuzz suite: whole command lines with their input files.

A case is what a stranger could hand qkv: an argument list, files (matrices, articles, .npz
maps, checkpoints, training texts, random or mutated from valid ones), special files where
an output may go (a FIFO, a socket, a folder, a symbolic link), and standard input. The
generators mix valid inputs with every kind of damage, so that both the work and the
refusals are exercised.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from tests import samples

ARTICLES = Path(__file__).parent / "articles"

# Characters that break parsers, terminals and pages.
HOSTILE = (
    "[]{}(),;:\"'\\/|$&<>#%^_~`*+-=.eE0123456789 \t\n\r\x00\x1b\x07\x7f\u202e\ufeff−，笔记本🙂"
)


FLAGS = {"--no-cache", "--resume", "--list-examples"}  # options without a value


@dataclass
class Case:
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    specials: dict[str, str] = field(default_factory=dict)  # name -> fifo|socket|dir|link
    stdin: bytes = b""
    outputs: list[str] = field(default_factory=list)  # what the command may write

    def __repr__(self) -> str:  # what hypothesis prints for a failing case: no file bytes
        sizes = {name: f"{len(data):,} bytes" for name, data in self.files.items()}
        return (
            f"Case(argv={self.argv!r}, files={sizes}, specials={self.specials}, "
            f"stdin={len(self.stdin):,} bytes, outputs={self.outputs})"
        )

    def command(self) -> list[str]:
        """The argument list, each long option joined to its value (--x=-1 2): a value that
        starts with "-" is then still a value, as a person quoting it would mean."""
        out, i = [], 0
        while i < len(self.argv):
            a = self.argv[i]
            if a.startswith("--") and a not in FLAGS and i + 1 < len(self.argv):
                out.append(f"{a}={self.argv[i + 1]}")
                i += 2
            else:
                out.append(a)
                i += 1
        return out

    def output(self, flag: str, target: tuple[str, dict[str, str], dict[str, bytes]]) -> None:
        """An output option: its path, what must exist there first, and that it may be written."""
        path, specials, files = target
        self.argv += [flag, path]
        self.specials.update(specials)
        self.files.update(files)
        self.outputs.append(path)

    def make(self, folder: Path) -> None:
        """Write the case's files into ``folder`` (its working folder)."""
        for name, data in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for name, kind in self.specials.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                continue
            if kind == "fifo":
                os.mkfifo(path)
            elif kind == "socket":
                s = socket.socket(socket.AF_UNIX)
                s.bind(str(path))
                s.close()
            elif kind == "dir":
                path.mkdir()
            elif kind == "link":
                path.symlink_to("exists.txt")


# ------------------------------------------------------------------ pieces


def mutate(data: st.DataObject, text: str, label: str = "edit") -> str:
    """A few random edits: insert hostile characters, delete, duplicate or cut."""
    for _ in range(data.draw(st.integers(0, 4), label=f"{label}s")):
        if not text:
            text = data.draw(st.text(HOSTILE, max_size=8), label=label)
            continue
        i = data.draw(st.integers(0, len(text)), label=f"{label} at")
        j = data.draw(st.integers(i, min(len(text), i + 40)), label=f"{label} to")
        op = data.draw(st.sampled_from(["insert", "delete", "repeat", "cut"]), label=label)
        if op == "insert":
            text = text[:i] + data.draw(st.text(HOSTILE, min_size=1, max_size=6)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[j:]
        elif op == "repeat":
            text = text[:j] + text[i:j] * data.draw(st.integers(1, 30)) + text[j:]
        else:
            text = text[:i]
    return text


def mutate_bytes(data: st.DataObject, blob: bytes) -> bytes:
    b = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 6), label="byte edits")):
        if not b:
            break
        i = data.draw(st.integers(0, len(b) - 1), label="byte at")
        op = data.draw(st.sampled_from(["flip", "cut", "zero"]), label="byte edit")
        if op == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del b[i:]
        else:
            b[i : i + 8] = bytes(min(8, len(b) - i))
    return bytes(b)


VALID_NUMBER = st.one_of(
    st.integers(-9, 9).map(str),
    st.integers(-(10**4), 10**4).map(lambda i: f"{i / 100:g}"),
    st.sampled_from(["0.5", "3/4", "−2", "1e-3", "2.5e1", ".5", "1_000"]),
)
BAD_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.sampled_from(
        [
            "-0", "1e300", "1e301", "1e-300", "1e-301", "1e308", "1e400", "1e-400",
            "1e100000000", "1e-100000000", "9" * 41, "1." + "0" * 400, "0." + "0" * 299 + "1",
            "nan", "NaN", "inf", "-Infinity", "∞", "1/0", "0x10", "٣", "", "abc", "1e", "--1",
        ]
    ),
    st.text(HOSTILE, max_size=4),
)  # fmt: skip
NUMBER = st.one_of(VALID_NUMBER, VALID_NUMBER, VALID_NUMBER, VALID_NUMBER, BAD_NUMBER)


def rarely(draw, label: str, one_in: int = 4) -> bool:
    """True about once in ``one_in`` draws: for damage, so that most cases reach the real
    work. (Hypothesis favours the ends of a range, so the True values sit in its middle.)"""
    return 40 <= draw(st.integers(0, 99), label=label) < 40 + 100 // one_in


@st.composite
def matrix_text(draw, max_rows: int = 5, max_cols: int = 5) -> str:
    """A matrix as a person types it: JSON, bracket rows, CSV, spaces, CSV with labels."""
    n = draw(st.integers(1, max_rows), label="rows")
    m = draw(st.integers(1, max_cols), label="cols")
    ragged = draw(st.booleans(), label="ragged") and draw(st.booleans())
    rows = [[draw(NUMBER) for _ in range(m - (ragged and i == n - 1 and m > 1))] for i in range(n)]
    style = draw(st.sampled_from(["json", "brackets", "csv", "spaces", "labels"]), label="style")
    if style == "json":
        return "[" + ",".join("[" + ",".join(r) + "]" for r in rows) + "]"
    if style == "brackets":
        return "\n".join("[" + ", ".join(r) + "]" for r in rows)
    if style == "labels":
        labels = [draw(st.text(HOSTILE, min_size=1, max_size=3)) for _ in rows]
        return "\n".join(",".join([lab, *r]) for lab, r in zip(labels, rows, strict=True))
    sep = "," if style == "csv" else " "
    return "\n".join(sep.join(r) for r in rows)


@st.composite
def big_matrix_text(draw) -> str:
    """Rarely: past a size limit, deeply nested, or long numbers."""
    kind = draw(st.sampled_from(["legal", "legal", "rows", "cols", "nesting", "digits"]))
    if kind == "legal":  # as large as the limits allow: the work must still be quick
        n, m = draw(st.integers(100, 256)), draw(st.integers(1, 128))
        return "\n".join(
            " ".join(str((i * 7 + j * 3) % 11 - 5) for j in range(m)) for i in range(n)
        )
    if kind == "rows":
        return "\n".join("1 2" for _ in range(draw(st.integers(500, 1200))))
    if kind == "cols":
        return " ".join(["1"] * draw(st.integers(1000, 1100)))
    if kind == "nesting":
        depth = draw(st.integers(3, 6000))
        return "[" * depth + "1" + "]" * depth
    return "[[" + "7" * draw(st.integers(30, 6000)) + "]]"


def any_matrix(data: st.DataObject, label: str) -> str:
    """Mostly a plain matrix; sometimes mutated; rarely past a limit."""
    if data.draw(st.integers(0, 19), label=f"{label} big") == 0:
        return data.draw(big_matrix_text(), label=label)
    text = data.draw(matrix_text(), label=label)
    return mutate(data, text, label) if data.draw(st.integers(0, 3), label="mutate") == 0 else text


PLAIN_WORD = st.text("abc我爱吃苹果的x$", min_size=1, max_size=4)
TOKENS = st.lists(st.text(HOSTILE, max_size=4), min_size=1, max_size=6).map(",".join)


@st.composite
def output_target(draw, suffix: str = "", name: str = "out") -> tuple[str, dict[str, str], dict]:
    """(path, specials, files) for an output: new, existing, or something qkv must refuse."""
    kind = draw(
        st.sampled_from(
            ["new"] * 6 + ["exists"] * 2 + ["fifo", "socket", "dir", "link", "missing"]
        ),
        label=f"{name} target",
    )
    files = {"exists.txt": b"old content\n"}
    path = f"{name}{suffix}"
    if kind == "exists":
        path = f"exists{suffix}"
        files[path] = b"old content\n"
    elif kind in ("fifo", "socket", "dir", "link"):
        path = f"{kind}{suffix}"
        return path, {path: kind}, files
    elif kind == "missing":
        path = f"missing/{name}{suffix}"
    return path, {}, files


# ------------------------------------------------------------------ explain
#
# A valid command first (shapes that fit, numbers that parse), then at most one damage: a bad
# number, a wrong shape, an edited text, a bad option, a refused output, a size past a limit.
# Half the cases stay valid, so the computing and rendering are fuzzed too, not only refusals.


JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def written(draw, rows: list[list[str]], style: str | None = None) -> str:
    """Rows of number texts as a person would type them."""
    style = style or draw(st.sampled_from(["json", "brackets", "csv", "spaces"]), label="style")
    if style == "json":  # what JSON cannot write as a number is a string ("3/4")
        cell = lambda c: c if JSON_NUMBER.fullmatch(c) else json.dumps(c)  # noqa: E731
        return "[" + ",".join("[" + ",".join(map(cell, r)) + "]" for r in rows) + "]"
    if style == "brackets":
        return "\n".join("[" + ", ".join(r) + "]" for r in rows)
    return "\n".join(("," if style == "csv" else " ").join(r) for r in rows)


def numbers(draw, n: int, m: int) -> list[list[str]]:
    return [[draw(VALID_NUMBER) for _ in range(m)] for _ in range(n)]


DAMAGES = ["number", "shape", "edit", "option", "output", "big", "none"]


@st.composite
def explain_case(draw) -> Case:
    data = draw(st.data())
    damage = draw(st.sampled_from(["none"] * 6 + DAMAGES), label="damage")
    case = Case(["explain"])
    if rarely(draw, "example", 8):
        case.argv += ["--example", draw(st.sampled_from(["笔记本", "search", "notebook"]))]
        matrices: dict[str, list[list[str]]] = {}
        n = k = 0  # the preset's own tokens
    else:
        matrices, n, k = _explain_matrices(draw)
    if damage == "number" and matrices:
        name = draw(st.sampled_from(sorted(matrices)), label="damaged matrix")
        rows = matrices[name]
        rows[draw(st.integers(0, len(rows) - 1))][0] = draw(BAD_NUMBER, label="bad number")
    if damage == "shape" and matrices:
        name = draw(st.sampled_from(sorted(matrices)), label="reshaped matrix")
        rows = matrices[name]
        rows[-1] = rows[-1][:-1] if len(rows[-1]) > 1 else [*rows[-1], "1"]
    _explain_inputs(draw, data, case, matrices, damage)
    _explain_options(draw, case, n, k, damage, cross="q" in matrices)
    return case


def _explain_matrices(draw) -> tuple[dict[str, list[list[str]]], int, int]:
    """Matrices that fit: self-attention X (and projections), or cross-attention Q, K, V."""
    n, d = draw(st.integers(1, 6), label="tokens"), draw(st.integers(1, 5), label="d")
    if draw(st.integers(0, 3), label="cross") == 0:
        k, dv = draw(st.integers(1, 6)), draw(st.integers(1, 4))
        return {"q": numbers(draw, n, d), "k": numbers(draw, k, d), "v": numbers(draw, k, dv)}, n, k
    matrices = {"x": numbers(draw, n, d)}
    if rarely(draw, "projections", 3):
        dk = draw(st.integers(1, 4))
        for w in ("wq", "wk", "wv"):
            if w != "wv" or draw(st.booleans()):
                matrices[w] = numbers(draw, d, dk if w != "wv" else draw(st.integers(1, 4)))
    return matrices, n, n


def _explain_inputs(draw, data, case: Case, matrices: dict, damage: str) -> None:
    how = draw(st.sampled_from(["args", "args", "file", "json", "stdin", "csv-labels"]))
    if not matrices:
        return
    if how in ("json", "stdin") or (how == "csv-labels" and "x" not in matrices):
        obj = ", ".join(
            f'"{name}": {written(draw, rows, "json")}' for name, rows in matrices.items()
        )
        text = "{" + obj + "}"
        text = mutate(data, text, "json") if damage == "edit" else text
        if how == "stdin":
            case.stdin, case.argv = (
                text.encode("utf-8", "surrogatepass"),
                [*case.argv, "--input", "-"],
            )
        else:
            case.files["in.json"] = text.encode("utf-8", "surrogatepass")
            case.argv += ["--input", "in.json"]
        return
    for name, rows in matrices.items():
        text = written(draw, rows)
        if name == "x" and how == "csv-labels":
            labels = [draw(PLAIN_WORD.filter(lambda w: not w.strip("0123456789.-"))) for _ in rows]
            text = "\n".join(",".join([lab, *r]) for lab, r in zip(labels, rows, strict=True))
        text = mutate(data, text, name) if damage == "edit" and rarely(draw, name, 2) else text
        if how == "file" or (name == "x" and how == "csv-labels"):
            case.files[f"{name}.txt"] = text.encode("utf-8", "surrogatepass")
            flag_value = "--input" if how == "csv-labels" else f"--{name}"
            case.argv += [flag_value, f"{name}.txt" if how == "csv-labels" else f"@{name}.txt"]
        else:
            case.argv += [f"--{name}", text]
    if damage == "big":  # X (or Q) replaced by a large one
        flag = "--x" if "x" in matrices else "--q"
        big = draw(big_matrix_text())
        argv = case.argv
        case.argv = [a for i, a in enumerate(argv) if a != flag and (i == 0 or argv[i - 1] != flag)]
        case.files["big.txt"] = big.encode()
        case.argv += [flag, "@big.txt"]  # given twice when --input has it: refused


def _explain_options(draw, case: Case, n: int, k: int, damage: str, cross: bool) -> None:
    words = PLAIN_WORD if damage != "option" else st.text(HOSTILE, max_size=4)
    options = {
        "--scale": st.sampled_from(["sqrt", "none", "2", "0.5", "1/3", "1e-3", "1e300"]),
        "--tokens": st.lists(words, min_size=n, max_size=n).map(",".join),
        "--key-tokens": st.lists(words, min_size=k, max_size=k).map(",".join),
        "--digits": st.integers(1, 15).map(str),
        "--expand": st.sampled_from(["1,1", "none", f"{n},{k}", "2,1"]),
        "--format": st.sampled_from(["text", "markdown", "latex", "html", "json"]),
        "--lang": st.sampled_from(["zh", "en"]),
    }
    if damage == "option":
        options["--scale"] = st.one_of(options["--scale"], NUMBER)
        options["--digits"] = st.integers(-3, 40).map(str)
        options["--expand"] = st.one_of(options["--expand"], st.text(HOSTILE, max_size=6))
        options["--format"] = st.sampled_from(["pdf", "json"])
    if (not cross or n == 0) and damage != "option":
        del options["--key-tokens"]
    if n == 0 and damage != "option":  # a preset
        del options["--tokens"], options["--expand"]
    for flag, strategy in options.items():
        if rarely(draw, f"with {flag}", 3):
            case.argv += [flag, draw(strategy, label=flag)]
    if n and rarely(draw, "with --mask", 3):
        mask = draw(st.sampled_from(["causal", "causal-top-left", "file", "file"]))
        if mask == "file":
            rows = [[draw(st.sampled_from(["0", "1", "1"])) for _ in range(k)] for _ in range(n)]
            if damage == "option":
                rows[0][0] = draw(st.sampled_from(["0.5", "2", "-1", "x", "true"]))
            case.files["mask.txt"] = written(draw, rows).encode()
            mask = "mask.txt"
        case.argv += ["--mask", mask]
    if damage == "output" or draw(st.booleans(), label="with -o"):
        path, specials, files = draw(output_target())
        case.argv += ["-o", path]
        case.specials.update(specials)
        case.files.update(files)
        case.outputs.append(path)


# ------------------------------------------------------------------ check


@cache
def seed_articles() -> list[str]:
    """The checker's test articles (tests/articles), not their README."""
    paths = sorted(p for p in ARTICLES.iterdir() if p.suffix in (".md", ".txt"))
    return [p.read_text(encoding="utf-8") for p in paths if p.name != "README.md"]


@st.composite
def article_text(draw) -> str:
    data = draw(st.data())
    kind = draw(st.sampled_from(["seed"] * 4 + ["tables", "tables", "latex", "random", "bytes"]))
    if kind == "seed":
        text = draw(st.sampled_from(seed_articles()))
        return mutate(data, text, "article") if rarely(draw, "edited article", 2) else text
    if kind == "tables":
        blocks = []
        for _ in range(draw(st.integers(1, 4))):
            n, m = draw(st.integers(1, 6)), draw(st.integers(1, 6))
            cell = NUMBER if rarely(draw, "dirty table") else VALID_NUMBER
            cells = [[draw(cell) for _ in range(m)] for _ in range(n)]
            head = "| " + " | ".join(f"c{j}" for j in range(m)) + " |"
            sep = "|" + "---|" * m
            body = "\n".join("| " + " | ".join(r) + " |" for r in cells)
            blocks.append(f"{draw(st.text(HOSTILE, max_size=20))}\n\n{head}\n{sep}\n{body}")
        return mutate(data, "\n\n".join(blocks), "tables")
    if kind == "latex":
        rows = draw(matrix_text(4, 4))
        body = r" \\ ".join(" & ".join(r.split()) for r in rows.splitlines())
        return mutate(data, f"$$\\begin{{bmatrix}} {body} \\end{{bmatrix}}$$", "latex")
    if kind == "random":
        return draw(st.text(HOSTILE, max_size=400))
    return draw(st.binary(max_size=300)).decode("latin1")


@st.composite
def check_case(draw) -> Case:
    text = draw(article_text())
    case = Case(["check"])
    raw = text.encode("utf-8", "surrogatepass")
    if rarely(draw, "stdin", 5):
        case.stdin = raw
        case.argv.append("-")
    else:
        case.files["article.md"] = raw
        case.argv.append("article.md")
    if draw(st.booleans(), label="with --format"):
        case.argv += ["--format", draw(st.sampled_from(["text", "markdown", "json"] * 3 + ["x"]))]
    if draw(st.booleans(), label="with --lang"):
        case.argv += ["--lang", draw(st.sampled_from(["zh", "en"] * 4 + ["fr"]))]
    if rarely(draw, "with -o", 3):
        path, specials, files = draw(output_target(".md"))
        case.argv += ["-o", path]
        case.specials.update(specials)
        case.files.update(files)
        case.outputs.append(path)
    return case


# ------------------------------------------------------------------ viz


@st.composite
def maps_file(draw) -> bytes:
    """A .npz: valid maps, maps with a wrong part, damaged bytes or noise."""
    data = draw(st.data())
    kind = draw(st.sampled_from(["valid"] * 5 + ["wrong part", "wrong part", "bytes", "noise"]))
    layers, heads = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.integers(1, 7))
    s = n if draw(st.integers(0, 4)) else draw(st.integers(1, 9))
    maps = samples.random_weights(layers, heads, n, s, seed=draw(st.integers(0, 9)))
    maps = maps.astype(draw(st.sampled_from(["float32", "float16", "float64"])))
    words = st.text(HOSTILE, max_size=5) if rarely(draw, "hostile tokens") else PLAIN_WORD
    tokens = [draw(words) for _ in range(n)]
    meta = {"schema": "qkv.maps/1"}
    if draw(st.booleans()):
        meta[draw(st.sampled_from(["text", "prompt"]))] = draw(st.text(HOSTILE, max_size=20))
    if draw(st.booleans()):
        top = n + 2 if rarely(draw, "bad special") else n - 1
        meta["special"] = draw(st.lists(st.integers(0 if top < n else -2, top), max_size=3))
    if kind == "valid":
        return samples.maps_npz(tokens=tokens, meta=meta, maps=maps)
    if kind == "wrong part":
        return draw(_wrong_part(maps, tokens, meta))
    if kind == "bytes":
        return mutate_bytes(data, samples.maps_npz(tokens=tokens, meta=meta, maps=maps))
    return draw(st.binary(max_size=500))


@st.composite
def _wrong_part(draw, maps: np.ndarray, tokens: list[str], meta: dict) -> bytes:
    part = draw(st.sampled_from(["maps", "tokens", "meta", "missing", "extra"]))
    arrays = {
        "maps": maps,
        "tokens": np.array(tokens, dtype=str),
        "meta": np.array(json.dumps(meta)),
    }
    if part == "maps":
        arrays["maps"] = draw(
            st.sampled_from(
                [
                    np.full(maps.shape, np.nan, np.float32),
                    maps * 9,
                    -maps,
                    maps.astype(np.int64),
                    maps[0],
                    np.zeros((1, 1, 0, 0), np.float32),
                    np.array([["x"]]),
                    np.zeros((2000, 2000, 1, 1), np.float32),
                ]
            )
        )
    elif part == "tokens":
        arrays["tokens"] = draw(
            st.sampled_from([np.array(tokens[:-1] or ["a", "b"]), np.arange(3), np.array([tokens])])
        )
    elif part == "meta":
        arrays["meta"] = np.array(
            draw(st.sampled_from(['["qkv.maps/1"]', "{", '{"schema": "x"}', "7", '{"special": 1}']))
        )
    elif part == "missing":
        del arrays[draw(st.sampled_from(["maps", "tokens", "meta"]))]
    else:
        arrays["extra"] = np.arange(3)
    return samples.npz_bytes(**arrays)


VIEWS = ["heatmap", "summary", "model", "head", "trace", "3d"]
SUFFIXES = [".png", ".svg", ".pdf", ".html", ".txt", ""]


@st.composite
def viz_case(draw) -> Case:
    case = Case(["viz"])
    source = _viz_source(draw, case)
    views = ["trace", "heatmap"] if source in ("example", "none") else VIEWS[:-2]
    view = draw(st.sampled_from(views)) if not rarely(draw, "bad view", 20) else "3d"
    case.argv += ["--view", view]
    for flag, strategy in {
        "--layer": st.integers(0, 4).map(str),
        "--head": st.integers(0, 4).map(str),
        "--step": st.sampled_from(["weights", "scores", "output", "x", "nope"]),
        "--format": st.sampled_from(["text", "json", "json"]),
        "--lang": st.sampled_from(["zh", "en"]),
    }.items():
        if rarely(draw, f"with {flag}", 3):
            case.argv += [flag, draw(strategy)]
    if view != "summary" or not rarely(draw, "no -o", 3):
        suffix = {"heatmap": ".png", "summary": ".svg"}.get(view, ".html")
        if rarely(draw, "other suffix"):
            suffix = draw(st.sampled_from(SUFFIXES))
        case.output("-o", draw(output_target(suffix, "pic")))
    if rarely(draw, "with --save", 4):
        case.output("--save", draw(output_target(".npz", "saved")))
    return case


def _viz_source(draw, case: Case) -> str:
    """--maps (mostly), a preset, nothing, or rarely a model (minilm loads a real one: about
    a second of CPU)."""
    source = draw(st.sampled_from(["maps"] * 6 + ["example", "example", "none", "model"]))
    source = "maps" if source == "model" and not rarely(draw, "a model", 5) else source
    if source == "maps":
        case.files["m.npz"] = draw(maps_file())
        case.argv += ["--maps", "m.npz"]
    elif source == "example":
        case.argv += ["--example", draw(st.sampled_from(["笔记本", "search", "nope"]))]
    elif source == "model":
        case.argv += ["--model", draw(st.sampled_from(["minilm", "no/such/model", "."]))]
        if not rarely(draw, "no --text", 5):
            case.argv += ["--text", draw(st.text(HOSTILE, max_size=30))]
    if source != "model" and rarely(draw, "text without a model", 10):
        case.argv += ["--text", "some text"]
    return source


# ------------------------------------------------------------------ gpt


@cache
def tiny_checkpoint() -> bytes:
    buf = io.BytesIO()
    import torch

    torch.save(samples.tiny_state(), buf)
    return buf.getvalue()


EDITS = {
    "drop": lambda v: KeyError,
    "none": lambda v: None,
    "string": lambda v: "7",
    "negative": lambda v: -1,
    "zero": lambda v: 0,
    "huge": lambda v: 10**12,
    "float": lambda v: 2.5,
    "nan": lambda v: float("nan"),
    "list": lambda v: [1, 2],
    "dict": lambda v: {"a": 1},
    "bool": lambda v: True,
}
PLACES = [
    "format", "config", "train", "vocab", "model", "optimizer", "step", "best_val",
    "config.vocab_size", "config.n_layer", "config.n_head", "config.n_embd",
    "config.block_size", "config.dropout", "config.bias", "config.extra",
    "train.batch_size", "train.steps", "train.lr", "train.eval_interval",
    "train.eval_batches", "train.warmup", "model.wte.weight", "model.blocks.0.ln1.weight",
]  # fmt: skip


@st.composite
def checkpoint_file(draw, damaged: bool = True) -> bytes:
    data = draw(st.data())
    if not damaged:
        return tiny_checkpoint()
    kind = draw(st.sampled_from(["edited", "edited", "vocab", "bytes", "noise"]))
    if kind == "bytes":
        return mutate_bytes(data, tiny_checkpoint())
    if kind == "noise":
        return draw(st.binary(max_size=400))
    import torch

    state = samples.tiny_state()
    if kind == "vocab":
        state["vocab"] = draw(
            st.sampled_from(
                [state["vocab"][:-1], [*state["vocab"], "x"], [*state["vocab"][:-1], "我"],
                 ["ab", *state["vocab"][1:]], list(range(11)), "我爱吃苹果砖头。的是了"]
            )
        )  # fmt: skip
    else:
        for _ in range(draw(st.integers(1, 3))):
            _edit(draw, state, torch)
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _edit(draw, state: dict, torch) -> None:
    """One damage to a checkpoint's dict: a key dropped or a value of the wrong kind."""
    place = draw(st.sampled_from(PLACES)).split(".", 1)
    value = EDITS[draw(st.sampled_from(sorted(EDITS)))](None)
    target, key = state, place[0]
    if len(place) == 2 and isinstance(state.get(place[0]), dict):
        target, key = state[place[0]], place[1]
    if value is KeyError:
        target.pop(key, None)
    elif key.endswith("weight") and isinstance(target.get(key), torch.Tensor):
        fill = value if isinstance(value, (int, float)) else float("nan")
        target[key] = torch.full_like(target[key], float(fill))
    else:
        target[key] = value


VOCAB_TEXT = st.text(samples.VOCAB, min_size=1, max_size=6)
GPT_DAMAGES = ["checkpoint", "prompt", "option", "output"]


@st.composite
def gpt_case(draw) -> Case:
    damage = draw(st.sampled_from(["none"] * 5 + GPT_DAMAGES), label="damage")
    verb = draw(st.sampled_from(["sample", "probe", "attention", "train"]))
    if rarely(draw, "unknown verb", 50):
        verb = "nope"
    case = Case(["gpt", verb])
    if verb == "train":
        _train_options(draw, case, damage)
        return case
    blob = draw(checkpoint_file(damaged=damage == "checkpoint"))
    if rarely(draw, "checkpoint in a folder", 3):
        case.files["run/checkpoint.pt"] = blob
        case.argv += ["--checkpoint", "run"]
    elif damage == "checkpoint" and rarely(draw, "no checkpoint", 5):
        case.argv += ["--checkpoint", "nowhere"]
    else:
        case.files["c.pt"] = blob
        case.argv += ["--checkpoint", "c.pt"]
    prompt = st.text(HOSTILE, max_size=10) if damage == "prompt" else VOCAB_TEXT
    if damage != "prompt" or not rarely(draw, "no prompt", 5):
        case.argv += ["--prompt", draw(prompt, label="prompt")]
    _gpt_options(draw, case, verb, damage)
    if verb == "attention":
        _attention_outputs(draw, case, damage)
    return case


def _gpt_options(draw, case: Case, verb: str, damage: str) -> None:
    good_float = st.floats(0, 2).map(lambda f: f"{f:.3g}")
    bad_float = st.sampled_from(["1e-45", "1e300", "nan", "inf", "-1", "x", "0"])
    good_int = st.integers(1, 30).map(str)
    bad_int = st.sampled_from(["0", "-3", "1e23", str(10**23), "x", "20000"])
    bad = damage == "option"
    floats = st.one_of(good_float, bad_float) if bad else good_float
    ints = st.one_of(good_int, bad_int) if bad else good_int
    top_p = st.one_of(
        st.floats(0.05, 1).map(lambda f: f"{f:.3g}"), bad_float if bad else st.nothing()
    )
    words = st.lists(VOCAB_TEXT if not bad else st.text(HOSTILE, max_size=9), max_size=4)
    options = {
        "sample": {"--max-new-tokens": ints, "--temperature": floats, "--top-k": ints,
                   "--top-p": top_p, "--seed": ints},
        "probe": {"--candidates": words.map(",".join), "--top": ints,
                  "--format": st.sampled_from(["text", "json"])},
        "attention": {},
        "nope": {},
    }[verb]  # fmt: skip
    for flag, strategy in options.items():
        if rarely(draw, f"with {flag}", 3):
            case.argv += [flag, draw(strategy, label=flag)]
    if verb == "sample" and draw(st.booleans()):
        case.argv.append("--no-cache")


def _attention_outputs(draw, case: Case, damage: str) -> None:
    if damage == "output" or not rarely(draw, "default -o", 4):
        path, specials, files = (
            draw(output_target(".npz", "maps")) if damage == "output" else ("maps.npz", {}, {})
        )
        case.argv += ["-o", path]
    else:
        path, specials, files = "attention.npz", {}, {}  # the default
    case.specials.update(specials)
    case.files.update(files)
    case.outputs.append(path)
    if rarely(draw, "with --html", 2):
        suffix = draw(st.sampled_from([".html", ".htm"])) if damage == "output" else ".html"
        name = draw(output_target(suffix, "v")) if damage == "output" else ("v.html", {}, {})
        path, specials, files = name
        case.argv += ["--html", path]
        case.specials.update(specials)
        case.files.update(files)
        case.outputs.append(path)


def _train_options(draw, case: Case, damage: str) -> None:
    bad = damage != "none"
    text = draw(
        st.one_of(st.text(samples.VOCAB, min_size=340, max_size=1500),
                  *([st.text(HOSTILE, max_size=600), st.just("")] if bad else []))
    )  # fmt: skip
    if not rarely(draw, "built-in corpus", 5):
        case.files["t.txt"] = text.encode("utf-8", "surrogatepass")
        case.argv += ["--text", "t.txt"]
    presets = ["tiny"] * 6 + (["baby", "nope"] if bad else [])
    case.argv += ["--preset", draw(st.sampled_from(presets))]
    steps = ["1", "2", "3"] + (["0", "-5", "x"] if bad else [])
    case.argv += ["--steps", draw(st.sampled_from(steps))]
    outs = ["new"] * 3 + (["existing", "file", "nested", "dir-with-ckpt"] if bad else [])
    out = draw(st.sampled_from(outs))
    target = {"new": "run", "existing": "made", "file": "exists.txt", "nested": "a/b/run",
              "dir-with-ckpt": "old"}[out]  # fmt: skip
    case.files["exists.txt"] = b"old content\n"
    if out == "existing":
        case.specials["made"] = "dir"
    if out == "dir-with-ckpt":
        case.files["old/checkpoint.pt"] = draw(checkpoint_file(damaged=rarely(draw, "bad", 2)))
    case.argv += ["--out", target]
    case.outputs.append(target)
    if bad and rarely(draw, "resume", 3):
        case.argv.append("--resume")
    if rarely(draw, "with --seed", 4):
        seeds = ["0", "7"] + (["-1", str(2**64), "x"] if bad else [])
        case.argv += ["--seed", draw(st.sampled_from(seeds))]
