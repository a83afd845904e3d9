"""The GPT on CUDA: it trains there (bfloat16 autocast), its cached and uncached greedy decoding
give the same tokens, and its checkpoint moves to the CPU and computes the same function.
Skipped, with the reason, where there is no CUDA."""

import pytest

torch = pytest.importorskip("torch")

from qkv.cli.main import main  # noqa: E402
from qkv.gpt import checkpoint  # noqa: E402
from qkv.gpt.config import preset  # noqa: E402
from qkv.gpt.data import builtin_corpus  # noqa: E402
from qkv.gpt.generate import generate  # noqa: E402
from qkv.gpt.train import train  # noqa: E402

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def trained_on_cuda(tmp_path_factory):
    """The tiny preset trained on the GPU (its own steps: a few seconds there)."""
    out = tmp_path_factory.mktemp("gpt-cuda")
    model_config, train_config = preset("tiny")
    result = train(builtin_corpus(), model_config, train_config, out, device=torch.device("cuda"))
    return out, result


def test_it_learns_on_cuda(trained_on_cuda):
    _, result = trained_on_cuda
    assert result["best_val"] < 1.5  # the built-in corpus: about 1.0 after the tiny preset


def test_cached_and_uncached_greedy_are_identical_on_cuda(trained_on_cuda):
    model, tok = checkpoint.restore(checkpoint.load(trained_on_cuda[0]))
    model.cuda()
    prompt = tok.encode("我爱吃")
    cached = generate(model, prompt, 100, temperature=0, use_cache=True)
    plain = generate(model, prompt, 100, temperature=0, use_cache=False)
    assert cached == plain and len(cached) == 103  # past the context of 32: the window restarts
    assert tok.decode(cached).count("。") >= 5


def test_checkpoint_moves_from_cuda_to_the_cpu(trained_on_cuda):
    """Saved from CUDA, loaded on the CPU: the same logits (float32 both, no autocast)."""
    state = checkpoint.load(trained_on_cuda[0])
    assert all(t.device.type == "cpu" for t in state["model"].values())
    cpu, tok = checkpoint.restore(state)
    gpu, _ = checkpoint.restore(checkpoint.load(trained_on_cuda[0]))
    gpu.cuda().eval()
    cpu.eval()
    ids = torch.tensor([tok.encode("我爱吃苹果,你爱喝茶")])
    with torch.no_grad():
        a, _, _ = cpu(ids)
        b, _, _ = gpu(ids.cuda())
    torch.testing.assert_close(b.cpu(), a, atol=1e-3, rtol=1e-3)  # a wrong load: O(1)


def test_cli_samples_on_cuda_and_on_the_cpu_alike(trained_on_cuda, capsys):
    out = []
    ask = ["--checkpoint", str(trained_on_cuda[0]), "--prompt", "我爱", "--max-new-tokens", "20"]
    for where in ("cuda", "cpu"):
        code = main(["gpt", "sample", *ask, "--temperature", "0", "--device", where])
        assert code == 0
        out.append(capsys.readouterr().out)
    assert out[0] == out[1] and out[0].startswith("我爱")


def test_a_cpu_run_resumes_on_cuda(tmp_path):
    """The optimizer's state, saved on the CPU, continues on the GPU (and back)."""
    from dataclasses import replace

    model_config, train_config = preset("tiny")
    short = replace(train_config, steps=10, eval_interval=5, eval_batches=2)
    text = builtin_corpus(800)
    train(text, model_config, short, tmp_path, device=torch.device("cpu"))
    cuda = torch.device("cuda")
    train(text, model_config, replace(short, steps=20), tmp_path, resume=True, device=cuda)
    assert checkpoint.load(tmp_path, "last")["step"] == 20
    train(text, model_config, replace(short, steps=25), tmp_path, resume=True)
    assert checkpoint.load(tmp_path, "last")["step"] == 25


def test_resume_on_cuda_continues_the_last_state(tmp_path):
    """With dropout, CUDA's RNG state restored: 8 steps straight against 4, stopped, then
    resumed to 8 give the same losses (to bfloat16's noise: CUDA's backward kernels may sum
    in another order) and the speed line has an MFU where the GPU's peak is known."""

    from qkv.gpt.config import GPTConfig, TrainConfig
    from qkv.gpt.train import peak_flops

    cuda = torch.device("cuda")
    model_config = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, dropout=0.2)
    t = TrainConfig(batch_size=8, steps=8, warmup=2, eval_interval=4, eval_batches=1)
    text = builtin_corpus(800)
    straight: list = []
    train(text, model_config, t, tmp_path / "a", device=cuda, on_progress=straight.append)
    seen: list = []

    def stop(p):
        seen.append(p)
        if p.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(text, model_config, t, tmp_path / "b", device=cuda, on_progress=stop)
    train(text, model_config, t, tmp_path / "b", resume=True, device=cuda, on_progress=seen.append)
    assert [p.step for p in seen] == list(range(1, 9))
    for a, b in zip(straight, seen, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-2)
    assert (straight[-1].mfu is None) == (peak_flops(cuda) is None)
    assert checkpoint.load(tmp_path / "b", "last")["rng"]["cuda"] is not None
