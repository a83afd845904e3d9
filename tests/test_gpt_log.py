"""A training run's log.csv (appended across --resume), qkv viz --loss, and qkv gpt sample
--num-samples / --start FILE."""

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from qkv.cli.main import main  # noqa: E402
from qkv.errors import InputError  # noqa: E402
from qkv.gpt import checkpoint  # noqa: E402
from qkv.gpt.config import preset  # noqa: E402
from qkv.gpt.data import builtin_corpus  # noqa: E402
from qkv.gpt.generate import generate  # noqa: E402
from qkv.gpt.train import train  # noqa: E402
from qkv.losslog import COLUMNS, read  # noqa: E402


def cli(capsys, *args):
    code = main(["gpt", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """20 steps, evaluated every 10, then resumed to 30: three log rows."""
    out = tmp_path_factory.mktemp("run")
    model_config, train_config = preset("tiny")
    short = replace(train_config, steps=20, eval_interval=10, eval_batches=2)
    text = builtin_corpus(800)
    first = train(text, model_config, short, out, seed=1)
    rows_before = read(out)
    train(text, model_config, replace(short, steps=30), out, resume=True)
    return out, first, rows_before


def test_log_has_one_row_per_evaluation_appended_across_resume(run_dir):
    out, first, rows_before = run_dir
    text = (out / "log.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert [r.step for r in rows_before] == [10, 20]
    rows = read(out)
    assert [r.step for r in rows] == [10, 20, 30]
    assert rows[:2] == rows_before  # the first run's rows are kept as written
    assert rows[1].val_loss == pytest.approx(first["val_loss"], abs=1e-6)
    assert rows[1].train_loss == pytest.approx(first["train_loss"], abs=1e-6)
    # elapsed goes on across the resume; throughput is positive and finite
    assert 0 < rows[0].elapsed_s <= rows[1].elapsed_s < rows[2].elapsed_s
    assert all(r.tokens_per_s > 0 for r in rows)


def test_a_new_run_starts_a_new_log(tmp_path):
    (tmp_path / "log.csv").write_text("stale\n", encoding="utf-8")
    model_config, train_config = preset("tiny")
    short = replace(train_config, steps=10, eval_interval=10, eval_batches=1)
    train(builtin_corpus(800), model_config, short, tmp_path, seed=2)
    assert [r.step for r in read(tmp_path)] == [10]


def test_bad_logs_are_one_line(tmp_path):
    with pytest.raises(InputError, match=r"has no log\.csv"):
        read(tmp_path)
    bad = tmp_path / "log.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a qkv loss log"):
        read(bad)
    bad.write_text(",".join(COLUMNS) + "\n1,2,x,4,5\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2: not numbers"):
        read(bad)
    bad.write_text(",".join(COLUMNS) + "\n1,2,nan,4,5\n", encoding="utf-8")
    with pytest.raises(InputError, match="not finite"):
        read(bad)


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_viz_loss_draws_the_curve(run_dir, tmp_path, capsys, suffix):
    pytest.importorskip("matplotlib")
    out, _, _ = run_dir
    target = tmp_path / f"loss.{suffix}"
    code = main(["viz", "--loss", str(out), "-o", str(target)])
    said, err = capsys.readouterr()
    assert code == 0 and err == "" and str(target) in said
    data = target.read_bytes()
    if suffix == "png":
        assert data.startswith(b"\x89PNG")
    else:  # SVG keeps its text: the legend and the axis names are searchable
        svg = data.decode("utf-8")
        assert "train loss" in svg and "val loss" in svg and "step" in svg


@pytest.mark.parametrize(
    "args, message",
    [
        (["--loss", "RUN"], "--loss draws a picture: give -o loss.png"),
        (["--loss", "RUN", "-o", "x.html", "--view", "model"], "--loss draws a picture"),
        (["--loss", "NOWHERE", "-o", "OUT/l.png"], "has no log.csv"),
        (["--loss", "RUN", "-o", "OUT/l.txt"], "choose a .png, .svg or .pdf"),
    ],
)
def test_viz_loss_bad_input(run_dir, tmp_path, capsys, args, message):
    pytest.importorskip("matplotlib")
    out, _, _ = run_dir
    (tmp_path / "NOWHERE").mkdir()
    args = [
        a.replace("RUN", str(out))
        .replace("OUT", str(tmp_path))
        .replace("NOWHERE", str(tmp_path / "NOWHERE"))
        for a in args
    ]
    code = main(["viz", *args])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and err.count("\n") == 1


def test_sample_num_samples_and_start_file(run_dir, tmp_path, capsys):
    out, _, _ = run_dir
    start = tmp_path / "prompt.txt"
    start.write_text("我爱\n", encoding="utf-8")
    common = ["sample", "--checkpoint", str(out), "--max-new-tokens", "8", "--seed", "5"]
    code, text, err = cli(capsys, *common, "--start", str(start), "--num-samples", "3")
    assert code == 0 and err == ""
    samples = text.rstrip("\n").split("\n---------------\n")
    assert len(samples) == 3 and all(s.startswith("我爱") and len(s) == 10 for s in samples)
    # sample i is the seed + i sample, as --seed 5 + i alone gives it
    model, tok = checkpoint.restore(checkpoint.load(out))
    for i, sample in enumerate(samples):
        ids = generate(model, tok.encode("我爱"), 8, temperature=0.8, seed=5 + i)
        assert sample == tok.decode(ids)
    # nanoGPT's FILE: prefix, and the same as --prompt
    code, same, _ = cli(capsys, *common, "--start", f"FILE:{start}")
    code2, prompt, _ = cli(capsys, *common, "--prompt", "我爱")
    assert code == code2 == 0 and same == prompt == samples[0] + "\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--prompt", "我", "--num-samples", "0"], "--num-samples must be 1 to 100"),
        (["--start", "EMPTY"], "is empty"),
        (["--start", "MISSING"], "MISSING"),
        (["--start", "BIG"], "larger than 256 KB"),
        (["--start", "BINARY"], "binary file"),
    ],
)
def test_sample_bad_input(run_dir, tmp_path, capsys, args, message):
    out, _, _ = run_dir
    (tmp_path / "EMPTY").write_text("\n", encoding="utf-8")
    (tmp_path / "BIG").write_bytes(b"a" * (256 * 1024 + 1))
    (tmp_path / "BINARY").write_bytes(b"\0\1\2")
    args = [str(tmp_path / a) if a in ("EMPTY", "MISSING", "BIG", "BINARY") else a for a in args]
    code, text, err = cli(capsys, "sample", "--checkpoint", str(out), *args)
    assert code == 2 and text == "" and message in err and err.count("\n") == 1


def test_sample_needs_a_prompt_or_a_start(run_dir, capsys):
    out, _, _ = run_dir
    with pytest.raises(SystemExit) as e:
        main(["gpt", "sample", "--checkpoint", str(out), "--prompt", "我", "--start", "f"])
    assert e.value.code == 2


def test_a_log_that_cannot_be_written_is_refused_before_training(tmp_path):
    (tmp_path / "log.csv").mkdir()
    model_config, train_config = preset("tiny")
    short = replace(train_config, steps=10, eval_interval=10, eval_batches=1)
    with pytest.raises(InputError, match="it is a folder"):
        train(builtin_corpus(800), model_config, short, tmp_path, seed=2)
    assert not (tmp_path / "checkpoint.pt").exists()
