"""Enhancement runner: chunked overlap-add, rate handling, per-file failures."""

import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.datadir import read_table
from audiokit.infer.enhance import collect_jobs, enhance_jobs, enhance_waveform


class Gain(torch.nn.Module):
    """A pointwise 'enhancer': chunking must not change its output at all."""

    sample_rate = 16000

    def enhance(self, wav):
        return 0.5 * wav


def test_chunked_equals_one_pass():
    x = torch.randn(16000 * 5) * 0.1
    one = enhance_waveform(Gain(), x, 16000, chunk_seconds=None)
    chunked = enhance_waveform(Gain(), x, 16000, chunk_seconds=1.3, overlap_seconds=0.25)
    assert torch.allclose(one, 0.5 * x, atol=1e-7)
    assert torch.allclose(chunked, one, atol=1e-6)


def test_other_rate_roundtrip():
    t = torch.arange(8000 * 2) / 8000
    x = 0.3 * torch.sin(2 * torch.pi * 440 * t)
    y = enhance_waveform(Gain(), x, 8000, chunk_seconds=0.7, overlap_seconds=0.1)
    assert y.shape == x.shape
    # a 440 Hz tone survives 8k -> 16k -> 8k resampling, away from the edges
    assert torch.allclose(y[200:-200], 0.5 * x[200:-200], atol=2e-3)


def test_jobs_and_failures(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", np.zeros(1600, np.float32) + 0.1, 16000)
    sf.write(src / "sub" / "b.flac", np.zeros(800, np.float32) + 0.1, 8000)
    (src / "sub" / "bad.wav").write_bytes(b"RIFF broken")
    out = tmp_path / "out"
    jobs = collect_jobs([str(src)], out)
    assert [j.utt_id for j in jobs] == ["a", "sub-b", "sub-bad"]
    failures = enhance_jobs(Gain(), jobs, out, progress=False)
    assert list(failures) == ["sub-bad"] and "not a readable audio file" in failures["sub-bad"]
    scp = read_table(out / "wav.scp")
    assert scp == {"a": "wavs/a.wav", "sub-b": "wavs/sub/b.wav"}
    y, sr = sf.read(out / "wavs" / "sub" / "b.wav")
    assert sr == 8000 and len(y) == 800
    assert "sub-bad" in read_table(out / "failures.txt")


def test_duplicate_ids(tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "same.wav", np.zeros(10, np.float32), 16000)
    with pytest.raises(ValueError, match="same utterance id 'same'"):
        collect_jobs([str(tmp_path / "x" / "same.wav"), str(tmp_path / "y" / "same.wav")], tmp_path / "o")


class LinearGain(Gain):
    linear_in_time = True


def test_plan_picks_one_pass_for_models_linear_in_time():
    from audiokit.infer.enhance import plan

    assert plan(Gain(), "cpu") == (10.0, None)                         # chunked by default
    assert plan(LinearGain(), "cpu") == (None, None)                   # one pass, fp32 on CPU
    assert plan(LinearGain(), "cuda") == (None, torch.bfloat16)        # bf16 for one pass on GPU
    assert plan(LinearGain(), "cuda", bf16=False) == (None, None)
    assert plan(Gain(), "cpu", one_pass=True) == (None, None)
    assert plan(LinearGain(), "cpu", one_pass=False, chunk_seconds=5.0) == (5.0, None)
    assert plan(Gain(), "cpu", chunk_seconds=0) == (None, None)        # --chunk-seconds 0 as before
    with pytest.raises(ValueError, match="chunk-seconds"):
        plan(Gain(), "cpu", one_pass=False, chunk_seconds=0)


def test_cli_one_pass_with_mambattention_logs_peak_memory(tmp_path, capsys):
    """`audiokit enhance` on a MambAttention with linear time attention: one pass (automatic), the
    same output as the model's own enhance() on the whole file, and a peak-memory line per file."""
    import argparse

    from audiokit.enh.mambattention import MambAttention
    from audiokit.infer import enhance as runner
    from audiokit.registry import save_model

    cfg = dict(dense_channel=8, num_blocks=1, num_heads=2, d_state=4, expand=2, dense_depth=2,
               time_attention="linear")
    torch.manual_seed(0)
    model = MambAttention(**cfg).eval()
    save_model(model, tmp_path / "m", {"model": {"name": "mambattention", **cfg}})
    x = (torch.randn(16000 * 2) * 0.1).numpy()
    sf.write(tmp_path / "long.wav", x, 16000, subtype="FLOAT")
    p = argparse.ArgumentParser()
    runner.add_arguments(p)
    args = p.parse_args([str(tmp_path / "long.wav"), "-o", str(tmp_path / "out"), "--model", str(tmp_path / "m"),
                         "--device", "cpu", "--chunk-seconds", "1"])
    assert runner.run(args) == 0
    err = capsys.readouterr().err
    assert "one pass per file on cpu" in err and "long: 2.0 s of audio in one pass" in err
    assert "peak process RSS" in err
    y, _ = sf.read(tmp_path / "out" / "wavs" / "long.wav", dtype="float32")
    torch.testing.assert_close(torch.from_numpy(y), model.enhance(torch.from_numpy(x)), atol=2 ** -15, rtol=0)  # 16-bit PCM out
    # --chunked goes back to overlapping chunks (1 s here), which differ at the seams
    args = p.parse_args([str(tmp_path / "long.wav"), "-o", str(tmp_path / "out2"), "--model", str(tmp_path / "m"),
                         "--device", "cpu", "--chunk-seconds", "1", "--chunked"])
    assert runner.run(args) == 0
    assert "1 s chunks on cpu" in capsys.readouterr().err
    y2, _ = sf.read(tmp_path / "out2" / "wavs" / "long.wav", dtype="float32")
    assert not np.allclose(y2, y, atol=1e-4)
