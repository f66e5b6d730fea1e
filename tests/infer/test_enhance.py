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
