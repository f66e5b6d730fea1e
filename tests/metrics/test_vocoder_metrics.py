"""Vocoder metrics against auraloss / torchcrepe on real speech; identity scores perfect."""

from pathlib import Path

import numpy as np
import pytest
import torch

from audiokit.metrics import METRICS, DEFAULT_METRICS, MetricError
from audiokit.metrics import vocoder as V

DATA = Path(__file__).resolve().parents[2] / "../shared/data"


@pytest.fixture(scope="module")
def pair():
    """1.5 s of LJSpeech (22.05 kHz) and a degraded copy (noise + 4 kHz low-pass)."""
    import torchaudio.functional as AF

    from audiokit.audio import load

    files = sorted((DATA / "ljspeech_subset" / "wavs").glob("*.flac"))
    if not files:
        pytest.skip("shared LJSpeech subset not available")
    x, sr = load(files[0])
    assert sr == 22050
    x = x[sr // 4: sr // 4 + 3 * sr // 2]
    g = torch.Generator().manual_seed(0)
    y = AF.lowpass_biquad(x + 0.005 * torch.randn(x.shape, generator=g), sr, 4000.0)
    return x.double().numpy(), y.double().numpy(), sr


def test_registered_not_default_and_crepe_lazy():
    for name in ("mstft", "mel_l1", "periodicity", "vuv_f1", "pitch_rmse"):
        assert name in METRICS and name not in DEFAULT_METRICS
    assert METRICS["periodicity"].rates == (16000,) and METRICS["mel_l1"].rates == (22050,)


def test_mstft_equals_auraloss(pair):
    import auraloss
    ref, est, sr = pair
    want = auraloss.freq.MultiResolutionSTFTLoss()(torch.from_numpy(est)[None, None],
                                                  torch.from_numpy(ref)[None, None]).item()
    assert V.mstft(ref, est, sr) == pytest.approx(want, rel=1e-6)
    assert V.mstft(ref, ref, sr) == 0.0


def test_mel_l1_against_librosa(pair):
    import librosa
    ref, est, sr = pair
    fb = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=80, fmin=0, fmax=8000)

    def logmel(x):
        x = np.pad(x, (384, 384), mode="reflect")
        s = librosa.stft(x, n_fft=1024, hop_length=256, window="hann", center=False)
        return np.log(np.maximum(fb @ np.sqrt(np.abs(s) ** 2 + 1e-9), 1e-5))

    want = np.mean(np.abs(logmel(ref) - logmel(est)))
    assert V.mel_l1(ref, est, sr) == pytest.approx(want, rel=1e-4)
    assert V.mel_l1(ref, ref, sr) == 0.0
    with pytest.raises(MetricError, match="22050"):
        V.mel_l1(ref, est, 16000)


def test_crepe_metrics_against_torchcrepe(pair):
    import torchcrepe
    from audiokit.audio import resample

    ref, est, sr = pair
    r16 = resample(torch.from_numpy(ref).float(), sr, 16000).double().numpy()
    e16 = resample(torch.from_numpy(est).float(), sr, 16000).double().numpy()

    # Independent pipeline with torchcrepe's own functions (CARGAN's steps).
    def track(x):
        hop, pad = 185, (1024 - 185) // 2
        a = torch.nn.functional.pad(torch.from_numpy(x).float()[None, None], (pad, pad),
                                    mode="reflect")[0]
        f, p = torchcrepe.predict(a, 16000, hop, 50.0, 550.0, model="tiny",
                                  return_periodicity=True, pad=False)
        p = torchcrepe.threshold.Silence()(p, a, 16000, hop_length=hop, pad=False)
        v = ~torch.isnan(torchcrepe.threshold.Hysteresis()(f.clone(), p.clone()))
        return f[0], p[0], v[0]

    f_r, p_r, v_r = track(r16)
    f_e, p_e, v_e = track(e16)
    want_per = torch.sqrt(torch.mean((p_r - p_e) ** 2)).item()
    assert V.periodicity(r16, e16, model="tiny") == pytest.approx(want_per, rel=1e-5)
    tp, fp, fn = (v_r & v_e).sum().item(), (~v_r & v_e).sum().item(), (v_r & ~v_e).sum().item()
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    # torchcrepe dithers pitch at random, which can move the hysteresis by a frame or two
    assert V.vuv_f1(r16, e16, model="tiny") == pytest.approx(2 * prec * rec / (prec + rec), abs=0.02)
    both = v_r & v_e
    cents = 1200 * torch.log2(f_r[both] / f_e[both])
    want_pitch = torch.sqrt(torch.mean(cents ** 2)).item()
    got_pitch = V.pitch_rmse(r16, e16, model="tiny")
    # undithered here, dithered (+-20 cents, independent per signal) in torchcrepe:
    # E[rmse_dithered^2] = rmse^2 + 2 * 20^2 / 6
    assert np.sqrt(got_pitch ** 2 + 133.3) == pytest.approx(want_pitch, rel=0.25)
    # the same signal: perfect, deterministic scores
    assert V.periodicity(r16, r16, model="tiny") == 0.0
    assert V.vuv_f1(r16, r16, model="tiny") == 1.0
    assert V.pitch_rmse(r16, r16, model="tiny") == 0.0
    with pytest.raises(MetricError, match="16000"):
        V.periodicity(ref, est, 22050, model="tiny")
