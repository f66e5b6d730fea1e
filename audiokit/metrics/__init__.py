"""Objective speech metrics and the registry that ``audiokit score`` picks them from.

Every metric is a function ``fn(ref, est, sr) -> float`` on two aligned 1-D float64
arrays at the rate ``sr`` (see :class:`Metric.rate_for`). Metrics that are computed
together (the Hu & Loizou composites) share a ``family`` so the runner computes them
once per utterance.

========  ==================================================  ======================
name      what                                                input rate
========  ==================================================  ======================
pesq_wb   ITU-T P.862.2 wide-band PESQ (MOS-LQO)               16 kHz
pesq_nb   ITU-T P.862 narrow-band PESQ (MOS-LQO, P.862.1)      8 kHz, or 16 kHz
stoi      short-time objective intelligibility                any (10 kHz inside)
estoi     extended STOI                                       any (10 kHz inside)
si_sdr    scale-invariant SDR, dB                             any
sdr       BSS-Eval v3 SDR (512-tap distortion filter), dB     any
ssnr      segmental SNR, dB (Hu & Loizou)                     any
csig      composite signal distortion (1..5)                  16 kHz
cbak      composite background intrusiveness (1..5)           16 kHz
covl      composite overall quality (1..5)                    16 kHz
========  ==================================================  ======================

Vocoder metrics (:mod:`audiokit.metrics.vocoder`), run only when asked for by name:
``mstft`` (multi-resolution STFT distance as auraloss defines it; any rate), ``mel_l1``
(L1 of the LJSpeech log-mel; 22.05 kHz), and from CREPE at 16 kHz ``periodicity``
(RMSE), ``vuv_f1`` and ``pitch_rmse`` (cents).

Non-intrusive metrics (:mod:`audiokit.metrics.dnsmos`; no reference; 16 kHz), run when
asked for by name and by default when no reference is given: ``dnsmos_sig``,
``dnsmos_bak``, ``dnsmos_ovrl`` (DNSMOS P.835) and ``dnsmos_p808`` (DNSMOS P.808).

Synthesized-speech metrics, run when asked for by name, on whole utterances (not
truncated to the shorter signal): ``wer`` and ``cer`` (:mod:`audiokit.metrics.asr`;
an offline recogniser's transcript of the estimate against REF's ``text``; 16 kHz;
per utterance plus the pooled corpus rate), ``mcd`` (mel-cepstral distortion after DTW,
dB) and ``f0_rmse`` (Hz) from WORLD at any rate, and ``spk_sim`` (resemblyzer speaker
embeddings, cosine; 16 kHz) (:mod:`audiokit.metrics.tts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from audiokit.metrics.common import MetricError
from audiokit.metrics.composite import cbak, covl, csig, ssnr
from audiokit.metrics.pesq import pesq_nb, pesq_wb
from audiokit.metrics.sdr import sdr, si_sdr
from audiokit.metrics.stoi import estoi, stoi

__all__ = ["Metric", "MetricError", "METRICS", "DEFAULT_METRICS", "get_metric", "parse_metrics"]


@dataclass(frozen=True)
class Metric:
    """One registered metric.

    Attributes:
        name: column name in ``per_utt.csv``.
        fn: ``fn(ref, est, sr) -> float``.
        rates: sample rates ``fn`` accepts; ``None`` means any rate (the file's own).
        family: metrics with the same family are computed in one call by the runner.
        higher_is_better: direction, for readers of the summary.
        reference_free: computed from the estimate alone (``fn`` ignores ``ref``).
        needs_text: ``fn`` also takes ``text=``, the utterance's reference transcript
            (REF's ``text``).
        truncate: the runner cuts the pair to the shorter signal first; ``False`` for
            metrics that align or summarise whole utterances themselves (DTW, ASR,
            embeddings), whose inputs may differ in length.
        pooled: an error rate; ``fn`` returns ``(errors, reference length)`` and the
            summary adds the pooled rate (sum of errors / sum of lengths) beside the
            mean of per-utterance rates.
        options: keyword options of ``fn`` that the runner forwards when given
            (``asr`` for ``wer``/``cer``).
    """

    name: str
    fn: Callable[..., float]
    rates: tuple[int, ...] | None
    family: str | None = None
    higher_is_better: bool = True
    reference_free: bool = False
    needs_text: bool = False
    truncate: bool = True
    pooled: bool = False
    options: tuple[str, ...] = ()

    def rate_for(self, file_sr: int) -> int:
        """The rate to resample a ``file_sr`` signal to before calling :attr:`fn`.

        The file's own rate when accepted, else the highest accepted rate below it.
        Upsampling is refused: a wide-band score of 8 kHz audio would be meaningless.
        """
        if self.rates is None or file_sr in self.rates:
            return int(file_sr)
        below = [r for r in self.rates if r < file_sr]
        if not below:
            need = " or ".join(f"{r} Hz" for r in sorted(self.rates))
            raise MetricError(f"{self.name} needs audio at {need} or higher, got {file_sr} Hz (refusing to upsample)")
        return max(below)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("pesq_wb", pesq_wb, (16000,)),
        Metric("pesq_nb", pesq_nb, (8000, 16000)),
        Metric("stoi", stoi, None),
        Metric("estoi", estoi, None),
        Metric("si_sdr", si_sdr, None),
        Metric("sdr", sdr, None),
        Metric("ssnr", ssnr, None),
        Metric("csig", csig, (16000,), family="composite"),
        Metric("cbak", cbak, (16000,), family="composite"),
        Metric("covl", covl, (16000,), family="composite"),
    )
}

DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)

# Vocoder metrics (audiokit.metrics.vocoder): asked for by name, not run by default
# (CREPE is slow on CPU); torchcrepe is imported only when a CREPE metric runs.
from audiokit.metrics import vocoder as _voc  # noqa: E402

METRICS.update({m.name: m for m in (
    Metric("mstft", _voc.mstft, None, higher_is_better=False),
    Metric("mel_l1", _voc.mel_l1, (22050,), higher_is_better=False),
    Metric("periodicity", _voc.periodicity, (16000,), higher_is_better=False),
    Metric("vuv_f1", _voc.vuv_f1, (16000,)),
    Metric("pitch_rmse", _voc.pitch_rmse, (16000,), higher_is_better=False),
)})


# Non-intrusive DNSMOS (audiokit.metrics.dnsmos): no reference needed; asked for by name
# or picked alone by ``audiokit score --est DIR`` without --ref (needs speechmos, onnxruntime).
from audiokit.metrics import dnsmos as _dnsmos  # noqa: E402

METRICS.update({m.name: m for m in (
    Metric(name, getattr(_dnsmos, name), (16000,), family="dnsmos", reference_free=True)
    for name in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
)})


# Synthesized speech (audiokit.metrics.asr, audiokit.metrics.tts): asked for by name; the
# recognisers, WORLD and the speaker encoder are imported on first use.
from audiokit.metrics import asr as _asr  # noqa: E402
from audiokit.metrics import tts as _tts  # noqa: E402

METRICS.update({m.name: m for m in (
    Metric("wer", _asr.wer_counts, (16000,), higher_is_better=False, needs_text=True, truncate=False,
           pooled=True, options=("asr",)),
    Metric("cer", _asr.cer_counts, (16000,), higher_is_better=False, needs_text=True, truncate=False,
           pooled=True, options=("asr",)),
    Metric("mcd", _tts.mcd, None, higher_is_better=False, truncate=False),
    Metric("f0_rmse", _tts.f0_rmse, None, higher_is_better=False, truncate=False),
    Metric("spk_sim", _tts.spk_sim, (16000,), truncate=False),
)})


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}") from None


def parse_metrics(metrics: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Metric names from a comma-separated string or a list; ``None`` gives the defaults."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ValueError("no metrics given; known metrics: " + ", ".join(METRICS))
    seen: list[str] = []
    for n in names:
        get_metric(n)
        if n not in seen:
            seen.append(n)
    return seen
