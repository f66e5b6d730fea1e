"""DNSMOS: non-intrusive speech quality (no clean reference) from Microsoft's ONNX models.

Two networks, both at 16 kHz, run on windows of 9.01 s taken every 1 s:

* the P.835 model (Reddy et al., "DNSMOS P.835: a non-intrusive perceptual objective
  speech quality metric to evaluate noise suppressors", ICASSP 2022) maps the raw window
  to three raw scores, then a per-dimension polynomial maps each to the P.835 scale:
  SIG (speech signal), BAK (background noise), OVRL (overall quality). Two sets of
  polynomials exist: the DNS Challenge's default model and its "personalized" model
  (which also penalises interfering talkers and ships as a separate network);
* the P.808 model (Reddy et al., "DNSMOS: a non-intrusive perceptual objective speech
  quality metric to evaluate noise suppressors", ICASSP 2021) maps a log-mel spectrogram
  of the window (120 mels, 321-point FFT, hop 160, power in dB relative to the window's
  maximum, then (dB + 40) / 40) to one MOS.

Clip scores are means over windows. The framing follows the DNS Challenge's published
``dnsmos_local.py`` so scores match the numbers reported with it: a clip shorter than
9.01 s is repeated (doubled until long enough); window k spans samples
``[int(k * sr), int((k + 9.01) * sr))`` in float64, and a window that this arithmetic
makes one sample short is skipped, as the published script does (k = 7..23 at 16 kHz,
for clips of 17 s or more); the P.808 input drops the window's last 160 samples.

The ONNX files are those shipped inside the ``speechmos`` wheel (MIT licence); they are
loaded from the installed package's folder, never downloaded. Requires ``speechmos`` and
``onnxruntime``.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from audiokit.metrics.common import MetricError, as_signal

__all__ = ["SAMPLE_RATE", "WINDOW_SECONDS", "dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808",
           "model_dir"]

SAMPLE_RATE = 16000
WINDOW_SECONDS = 9.01

# Polynomials (highest power first) mapping raw network outputs to the P.835 scale,
# from the DNS Challenge's dnsmos_local.py: default and personalized model.
_POLY = {
    False: {"sig": (-0.08397278, 1.22083953, 0.0052439),
            "bak": (-0.13166888, 1.60915514, -0.39604546),
            "ovrl": (-0.06766283, 1.11546468, 0.04602535)},
    True: {"sig": (-0.01019296, 0.02751166, 1.19576786, -0.24348726),
           "bak": (-0.04976499, 0.44276479, -0.1644611, 0.96883132),
           "ovrl": (-0.00533021, 0.005101, 1.18058466, -0.11236046)},
}

_SESSIONS: dict[str, object] = {}
_LOCK = threading.Lock()


def model_dir() -> Path:
    """The installed ``speechmos`` package's folder (which holds the ONNX models)."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError("DNSMOS needs the ONNX models shipped in the 'speechmos' package: "
                          "pip install speechmos onnxruntime")
    return Path(next(iter(spec.submodule_search_locations)))


def _session(relpath: str):
    with _LOCK:
        if relpath not in _SESSIONS:
            try:
                import onnxruntime as ort
            except ImportError:
                raise MetricError("DNSMOS needs onnxruntime: pip install onnxruntime") from None
            path = model_dir() / relpath
            if not path.is_file():
                raise MetricError(f"{path}: DNSMOS model missing from the installed speechmos package "
                                  "(reinstall speechmos)")
            opts = ort.SessionOptions()
            # The scoring runner parallelises over processes; follow torch's thread setting.
            import torch

            opts.intra_op_num_threads = max(1, torch.get_num_threads())
            opts.inter_op_num_threads = 1
            _SESSIONS[relpath] = ort.InferenceSession(str(path), sess_options=opts,
                                                      providers=["CPUExecutionProvider"])
        return _SESSIONS[relpath]


def _p808_features(seg: np.ndarray) -> np.ndarray:
    """[frames, 120] log-mel input of the P.808 model (DNSMOS P.808 paper, Sec. 3)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=seg, sr=SAMPLE_RATE, n_fft=321, hop_length=160, n_mels=120)
    return ((librosa.power_to_db(mel, ref=np.max) + 40.0) / 40.0).T


def _windows(audio: np.ndarray, sr: int):
    need = int(WINDOW_SECONDS * sr)
    while audio.size < need:  # short clips are repeated, as in dnsmos_local.py
        audio = np.concatenate([audio, audio])
    n_hops = int(np.floor(audio.size / sr) - WINDOW_SECONDS) + 1
    for k in range(n_hops):
        seg = audio[int(k * sr): int((k + WINDOW_SECONDS) * sr)]
        if seg.size >= need:
            yield seg


def dnsmos(est, sr: int = SAMPLE_RATE, *, personalized: bool = False) -> dict[str, float]:
    """DNSMOS of one clip.

    Args:
        est: mono signal ``[samples]`` in [-1, 1] (numpy or torch) at 16 kHz.
        sr: its rate; must be 16000 (resample first: the scoring runner does).
        personalized: use the personalized P.835 model and its polynomials.

    Returns:
        ``{"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}`` (MOS, about 1..5).
    """
    if sr != SAMPLE_RATE:
        raise MetricError(f"DNSMOS needs {SAMPLE_RATE} Hz audio, got {sr} Hz")
    x = as_signal(est, "estimate").astype(np.float32)
    if np.abs(x).max() > 1.0:
        raise MetricError(f"estimate: samples must lie in [-1, 1], peak is {np.abs(x).max():.3f}")
    primary = _session("pdnsmos_models/sig_bak_ovr.onnx" if personalized else "dnsmos_models/sig_bak_ovr.onnx")
    p808 = _session("dnsmos_models/model_v8.onnx")
    poly = {k: np.poly1d(v) for k, v in _POLY[personalized].items()}
    rows = []
    for seg in _windows(x, sr):
        raw = primary.run(None, {"input_1": seg[None, :]})[0][0]
        feats = _p808_features(seg[:-160]).astype(np.float32)[None]
        mos_p808 = p808.run(None, {"input_1": feats})[0][0][0]
        rows.append((poly["sig"](raw[0]), poly["bak"](raw[1]), poly["ovrl"](raw[2]), mos_p808))
    sig, bak, ovrl, mos = np.mean(np.asarray(rows, dtype=np.float64), axis=0)
    return {"dnsmos_sig": float(sig), "dnsmos_bak": float(bak), "dnsmos_ovrl": float(ovrl),
            "dnsmos_p808": float(mos)}


# Registry-shaped wrappers fn(ref, est, sr): the reference is ignored (may be None).
def dnsmos_sig(ref, est, sr: int) -> float:
    return dnsmos(est, sr)["dnsmos_sig"]


def dnsmos_bak(ref, est, sr: int) -> float:
    return dnsmos(est, sr)["dnsmos_bak"]


def dnsmos_ovrl(ref, est, sr: int) -> float:
    return dnsmos(est, sr)["dnsmos_ovrl"]


def dnsmos_p808(ref, est, sr: int) -> float:
    return dnsmos(est, sr)["dnsmos_p808"]
