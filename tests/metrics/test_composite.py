"""segSNR, LLR, WSS against frame-by-frame loops written from Hu & Loizou (2008), and
sanity checks of CSIG/CBAK/COVL."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import soundfile as sf

from audiokit.metrics.composite import (
    cbak, composite, covl, csig, llr, llr_frames, segmental_snr_frames, ssnr, wss, wss_frames,
)

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
EPS = np.finfo(np.float64).eps

CENTRE = [50, 120, 190, 260, 330, 400, 470, 540, 617.372, 703.378, 798.717, 904.128, 1020.38, 1148.30,
          1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97, 2978.04, 3276.17, 3597.63]
BANDWIDTH = [70, 70, 70, 70, 70, 70, 70, 77.3724, 86.0056, 95.3398, 105.411, 116.256, 127.914, 140.423,
             153.823, 168.154, 183.457, 199.776, 217.153, 235.631, 255.255, 276.072, 298.126, 321.465, 346.136]


# ------------------------------------------------------------------ naive references

def naive_frames(x, sr):
    win = int(np.floor(0.03 * sr + 0.5))
    hop = win // 4
    window = np.hanning(win + 2)[1:-1]  # 0.5 (1 - cos(2 pi k / (win + 1))), k = 1..win
    x = x + EPS
    count = int(np.floor(len(x) / hop - win / hop))
    return [x[i * hop: i * hop + win] * window for i in range(count)]


def naive_segsnr(c, p, sr):
    out = []
    for fc, fp in zip(naive_frames(c, sr), naive_frames(p, sr)):
        v = 10 * np.log10(np.sum(fc**2) / (np.sum((fc - fp) ** 2) + EPS) + EPS)
        out.append(min(max(v, -10.0), 35.0))
    return np.array(out)


def naive_llr(c, p, sr):
    order = 10 if sr < 10000 else 16
    out = []
    for fc, fp in zip(naive_frames(c, sr), naive_frames(p, sr)):
        rc = np.correlate(fc, fc, "full")[len(fc) - 1: len(fc) + order]
        rp = np.correlate(fp, fp, "full")[len(fp) - 1: len(fp) + order]
        ac = np.concatenate([[1.0], -scipy.linalg.solve_toeplitz(rc[:order], rc[1:])])
        ap = np.concatenate([[1.0], -scipy.linalg.solve_toeplitz(rp[:order], rp[1:])])
        big_r = scipy.linalg.toeplitz(rc)
        out.append(np.log((ap @ big_r @ ap) / (ac @ big_r @ ac)))
    return np.array(out)


def naive_wss(c, p, sr):
    fc_list, fp_list = naive_frames(c, sr), naive_frames(p, sr)
    win = len(fc_list[0])
    n_fft = int(2 ** np.ceil(np.log2(2 * win)))
    half = n_fft // 2
    filters = np.zeros((25, half))
    for b in range(25):
        f0 = np.floor(CENTRE[b] / (sr / 2) * half)
        bw = BANDWIDTH[b] / (sr / 2) * half
        for j in range(half):
            g = np.exp(-11 * ((j - f0) / bw) ** 2 + np.log(70.0) - np.log(BANDWIDTH[b]))
            filters[b, j] = g if g > np.exp(-30 / (2 * 2.303)) else 0.0

    def bands(frame):
        spec = np.abs(np.fft.fft(frame, n_fft)) ** 2
        return 10 * np.log10(np.maximum(filters @ spec[:half], 1e-10))

    def weights(e):
        s = np.diff(e)
        w = np.zeros(24)
        for i in range(24):
            if s[i] > 0:  # climb to the right until the slope turns; composite.m reads one band early
                n = i
                while n < 24 and s[n] > 0:
                    n += 1
                peak = e[n - 1]
            else:  # walk left down the slope
                n = i
                while n >= 0 and s[n] <= 0:
                    n -= 1
                peak = e[n + 1]
            w[i] = 20 / (20 + e.max() - e[i]) * 1 / (1 + peak - e[i])
        return s, w

    out = []
    for fc, fp in zip(fc_list, fp_list):
        sc, wc = weights(bands(fc))
        sp, wp = weights(bands(fp))
        w = (wc + wp) / 2
        out.append(np.sum(w * (sc - sp) ** 2) / np.sum(w))
    return np.array(out)


def trimmed(v):
    v = np.sort(v)
    return v[: int(np.floor(0.95 * len(v) + 0.5))].mean()


# ------------------------------------------------------------------ signals

def synthetic(sr, seconds=0.6, seed=0):
    """A voiced-like signal (harmonics through a resonance) and a noisy, filtered copy."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    src = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    b, a = scipy.signal.iirpeak(700, 5, fs=sr)
    clean = scipy.signal.lfilter(b, a, src) + 0.01 * rng.standard_normal(t.size)
    noisy = scipy.signal.lfilter([1, -0.7], [1], clean) * 0.8 + 0.1 * rng.standard_normal(t.size)
    return clean, noisy


@pytest.mark.parametrize("sr", [8000, 16000], ids=["8k", "16k"])
def test_frame_measures_match_naive_loops(sr):
    c, p = synthetic(sr)
    np.testing.assert_allclose(segmental_snr_frames(c, p, sr), naive_segsnr(c, p, sr), atol=1e-9)
    np.testing.assert_allclose(llr_frames(c, p, sr), naive_llr(c, p, sr), atol=1e-7)
    np.testing.assert_allclose(wss_frames(c, p, sr), naive_wss(c, p, sr), atol=1e-7)
    assert ssnr(c, p, sr) == pytest.approx(naive_segsnr(c, p, sr).mean(), abs=1e-9)
    assert llr(c, p, sr) == pytest.approx(trimmed(naive_llr(c, p, sr)), abs=1e-7)
    assert wss(c, p, sr) == pytest.approx(trimmed(naive_wss(c, p, sr)), abs=1e-7)


def test_segmental_snr_of_a_known_scaled_error():
    # p = c * (1 - 0.1): each frame's SNR is exactly 20 dB.
    c, _ = synthetic(16000)
    assert ssnr(c, 0.9 * c, 16000) == pytest.approx(20.0, abs=1e-6)


@pytest.fixture(scope="module")
def speech():
    x, sr = sf.read(str(DATA / "pesq_reference/speech.wav"), dtype="float64")
    return x, sr


def test_clean_against_itself_scores_the_maximum(speech):
    x, sr = speech
    res = composite(x, x, sr)
    assert res["llr"] == pytest.approx(0.0, abs=1e-9)
    assert res["wss"] == pytest.approx(0.0, abs=1e-9)
    assert res["ssnr"] == 35.0
    assert (res["csig"], res["cbak"], res["covl"]) == (5.0, 5.0, 5.0)


def test_noisier_scores_lower_and_stays_in_range(speech):
    x, sr = speech
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(x.size)
    scores = []
    for snr_db in (20, 5, -5):
        y = x + noise * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))
        scores.append(composite(x, y, sr))
    for key in ("csig", "cbak", "covl"):
        vals = [s[key] for s in scores]
        assert all(1.0 <= v <= 5.0 for v in vals), (key, vals)
        assert vals[0] > vals[1] > vals[2] or vals[2] == 1.0 and vals[0] > vals[1], (key, vals)
    assert scores[0]["ssnr"] > scores[1]["ssnr"] > scores[2]["ssnr"]
    assert scores[0]["wss"] < scores[1]["wss"] < scores[2]["wss"]
    # The single-measure entry points agree with the shared computation.
    y = x + noise * 0.01
    both = composite(x, y, sr)
    assert (csig(x, y, sr), cbak(x, y, sr), covl(x, y, sr)) == (both["csig"], both["cbak"], both["covl"])
