"""``audiokit vocode``: copy-synthesis lengths and rates, saved mels, mel-settings checks, failures."""

import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.audio import resample
from audiokit.cli import main as cli_main
from audiokit.datadir import read_table
from audiokit.frontend.mel import MelSpectrogram
from audiokit.infer.vocode import MelMismatchError, check_mel_settings, collect_jobs, vocode_jobs
from audiokit.registry import build_model, load_model, save_model

HG = {"name": "hifigan", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
      "resblock_dilation_sizes": [[1]]}
PW = {"name": "periodwave", "hidden_dim": 32, "encoder_blocks": 1, "cond_blocks": 1,
      "mid_dilations": [1], "final_dilations": [1], "periods": [1, 2]}
LJ = dict(sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, fmin=0.0, fmax=8000.0)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    out = {}
    for cfg in (HG, PW):
        out[cfg["name"]] = save_model(build_model(cfg), root / cfg["name"], {"model": cfg})
    return out


def tone(sr, seconds, f=220.0):
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_copy_synthesis_rates_and_lengths(tmp_path, models):
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "a16k.wav", tone(16000, 0.7), 16000)
    sf.write(src / "b22k.wav", tone(22050, 0.4), 22050)
    out = tmp_path / "out"
    assert cli_main(["vocode", str(src), "-o", str(out), "--model", str(models["hifigan"]),
                     "--device", "cpu", "--batch-size", "2"]) == 0
    scp = read_table(out / "wav.scp")
    assert sorted(scp) == ["a16k", "b22k"]
    a, sra = sf.read(out / scp["a16k"])
    b, srb = sf.read(out / scp["b22k"])
    assert sra == srb == 22050                               # the model's rate
    assert len(a) == resample(torch.from_numpy(tone(16000, 0.7)), 16000, 22050).numel()
    assert len(b) == len(tone(22050, 0.4))


def test_batched_equals_single_for_hifigan(tmp_path, models):
    model = load_model(models["hifigan"])
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "long.wav", tone(22050, 0.6, 300.0), 22050)
    sf.write(src / "short.wav", tone(22050, 0.3, 150.0), 22050)
    jobs = collect_jobs([str(src)], tmp_path / "b")
    assert vocode_jobs(model, jobs, tmp_path / "b", batch_size=2, progress=False) == {}
    assert vocode_jobs(model, collect_jobs([str(src)], tmp_path / "s"), tmp_path / "s", batch_size=1,
                       progress=False) == {}
    for name in ("long", "short"):
        x, _ = sf.read(tmp_path / "b" / "wavs" / f"{name}.wav")
        y, _ = sf.read(tmp_path / "s" / "wavs" / f"{name}.wav")
        # padding the shorter mel only touches its last frames (the receptive field)
        assert np.allclose(x[:2048], y[:2048], atol=1e-4)


def test_npy_and_pt_mels(tmp_path, models):
    mel = MelSpectrogram(22050, 1024, 256, 1024, 80, 0.0, 8000.0)(torch.from_numpy(tone(22050, 0.5)))
    np.save(tmp_path / "m1.npy", mel.numpy())
    torch.save({"mel": mel, "mel_settings": dict(LJ)}, tmp_path / "m2.pt")
    bad = dict(LJ, fmax=11025.0)
    torch.save({"mel": mel, "mel_settings": bad}, tmp_path / "m3.pt")
    np.save(tmp_path / "m4.npy", np.zeros((100, 20), np.float32))
    out = tmp_path / "out"
    jobs = collect_jobs([str(tmp_path / f) for f in ("m1.npy", "m2.pt", "m3.pt", "m4.npy")], out)
    failures = vocode_jobs(load_model(models["periodwave"]), jobs, out, steps=1, batch_size=4, progress=False)
    assert set(failures) == {"m3", "m4"}
    assert "fmax=11025.0 (model: 8000.0)" in failures["m3"] and "n_mels=80" in failures["m4"]
    y, sr = sf.read(out / "wavs" / "m1.wav")
    assert sr == 22050 and len(y) == mel.shape[-1] * 256
    assert sorted(read_table(out / "wav.scp")) == ["m1", "m2"]


def test_mel_settings_mismatch_is_refused(tmp_path, models, capsys):
    with pytest.raises(MelMismatchError, match="n_mels=100 \\(model: 80\\)"):
        check_mel_settings(LJ, {"n_mels": 100, "sample_rate": 22050})
    np.save(tmp_path / "m.npy", np.zeros((80, 10), np.float32))
    rc = cli_main(["vocode", str(tmp_path / "m.npy"), "-o", str(tmp_path / "o"), "--model", str(models["hifigan"]),
                   "--mel-settings", '{"sample_rate": 24000, "n_mels": 80}'])
    assert rc == 2 and "sample_rate=24000 (model: 22050)" in capsys.readouterr().err


def test_bf16_autocast_tracks_fp32(tmp_path, models):
    """--bf16 runs the network in bfloat16: same files, waveform close to the fp32 one (not equal)."""
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "a.wav", tone(22050, 0.4, 200.0), 22050)
    outs = {}
    for flag in ([], ["--bf16"]):
        out = tmp_path / ("bf16" if flag else "fp32")
        assert cli_main(["vocode", str(src), "-o", str(out), "--model", str(models["hifigan"]),
                         "--device", "cpu", *flag]) == 0
        outs[bool(flag)], _ = sf.read(out / "wavs" / "a.wav")
    a, b = outs[False], outs[True]
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.corrcoef(a, b)[0, 1] > 0.99
