"""TTS training data: (text, recording) pairs of a data directory -> token ids and log-mels.

A data directory with ``wav.scp`` (recordings) and ``text`` (transcripts) is read once: every
transcript goes through the text front-end (:mod:`audiokit.text`: normalisation, eSpeak NG
phonemes or characters) and the symbol table into token ids, and every recording's length is
read from its header. Items that cannot be used are reported per utterance with the reason
(text the front-end refuses, symbols the table lacks, audio too short for its tokens or
longer than ``max_seconds``, unreadable audio); ``on_error="raise"`` (default) stops with the
full list, ``"skip"`` drops them and keeps the list in :attr:`TTSDataset.problems`.
Characters the front-end drops (e.g. an emoji) are reported the same way but keep the item.

Audio is resampled to the mel's rate and peak-normalised to 0.95, as the vocoders of
:mod:`audiokit.vocoder` are trained, so a mel predicted by the acoustic model is what the
vocoder saw; the log-mel is :class:`audiokit.frontend.mel.MelSpectrogram` with the acoustic
model's settings. Batches (:func:`collate`) are dicts: ``tokens`` [B, T] long (0 = pad),
``token_lengths`` [B], ``mel`` [B, n_mels, F] (zero past each length), ``mel_lengths`` [B],
``utt`` (list of ids).
"""

from __future__ import annotations

import os
import random
import warnings

import torch
from torch.utils.data import Dataset

from audiokit.audio import AudioError, info, load
from audiokit.datadir import DataDir, DataDirError
from audiokit.frontend.mel import MelSpectrogram
from audiokit.text import SymbolTable, TextError, build_frontend
from audiokit.text.espeak import EspeakError
from audiokit.text.symbols import UnknownSymbolError
from audiokit.vocoder.data import peak_normalise

__all__ = ["TTSDataError", "TTSDataset", "collate", "symbol_table", "mel_stats"]

SYMBOL_SETS = ("ipa", "characters", "corpus")


class TTSDataError(DataDirError):
    """Items of a TTS data directory that cannot be used; the message lists them."""


def symbol_table(kind: str, frontend_cfg: dict | None = None, texts=None) -> SymbolTable:
    """The model's symbol table: ``"ipa"`` (every IPA symbol: any eSpeak NG output),
    ``"characters"`` (the character front-end's alphabet) or ``"corpus"`` (the symbols that
    the front-end produces on ``texts``)."""
    if kind == "ipa":
        return SymbolTable.standard_ipa()
    if kind == "characters":
        return SymbolTable.characters()
    if kind == "corpus":
        if texts is None or frontend_cfg is None:
            raise ValueError("symbol_table('corpus') needs the front-end config and the training texts")
        fe = build_frontend(frontend_cfg)
        outs, _ = fe.phonemize_batch(list(texts))
        return SymbolTable.from_corpus([o for o in outs if o is not None])
    raise ValueError(f"symbols: expected one of {SYMBOL_SETS}, got {kind!r}")


class TTSDataset(Dataset):
    """Token ids and log-mels of a data directory (see the module docstring).

    Args:
        source: data directory with ``table`` (audio) and ``text``.
        frontend: front-end config (``build_frontend``; e.g. ``{"type": "espeak", "language": "en-us"}``).
        symbols: the model's :class:`SymbolTable` or its ``to_dict()``.
        mel_settings: :class:`MelSpectrogram` settings (the model's ``mel_settings``).
        max_seconds: drop recordings longer than this (None: keep all).
        on_error: ``"raise"`` or ``"skip"`` for unusable items.
        table: audio table name.
    """

    def __init__(self, source: str | os.PathLike, frontend: dict, symbols, mel_settings: dict, *,
                 max_seconds: float | None = None, on_error: str = "raise", table: str = "wav.scp"):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error: expected 'raise' or 'skip', got {on_error!r}")
        d = DataDir(source)
        if not d.has("text"):
            raise DataDirError(f"{source}: no 'text' table (TTS needs transcripts beside {table})")
        audio, texts = d.audio(table), d.table("text")
        missing = sorted(set(audio) - set(texts))
        if missing:
            raise DataDirError(f"{source}/text: no transcript for {len(missing)} utterance(s) of {table}, "
                               f"e.g. {missing[:5]}")
        self.table = symbols if isinstance(symbols, SymbolTable) else SymbolTable.from_dict(symbols)
        self.frontend_cfg = dict(frontend)
        self.mel_settings = dict(mel_settings)
        self.mel = MelSpectrogram(**self.mel_settings)
        sr = self.mel.sample_rate
        fe = build_frontend(self.frontend_cfg)
        self.items: list[tuple[str, os.PathLike, list[int], int]] = []
        self.problems: dict[str, str] = {}
        notes: list[str] = []
        for utt, path in audio.items():
            try:
                res = fe.process(texts[utt])
                ids = self.table.encode(res.tokens)
                notes.extend(f"{utt}: {p}" for p in res.problems)
                meta = info(path)
                seconds = meta.frames / meta.samplerate
                frames = self.mel.num_frames(int(seconds * sr)) if seconds * sr >= self.mel.n_fft else 0
                if max_seconds is not None and seconds > max_seconds:
                    raise TTSDataError(f"{seconds:.1f} s is longer than max_seconds={max_seconds}")
                if frames < len(ids):
                    raise TTSDataError(f"{frames} mel frames for {len(ids)} tokens (each token needs a frame)")
            except (TextError, EspeakError, UnknownSymbolError, AudioError, TTSDataError, RuntimeError) as e:
                self.problems[utt] = f"{type(e).__name__}: {e}"
                continue
            self.items.append((utt, path, ids, frames))
        if notes:
            warnings.warn(f"{source}: {len(notes)} character problem(s), e.g. " + "; ".join(notes[:3]), stacklevel=2)
        if self.problems and on_error == "raise":
            listed = "\n".join(f"  {u}: {m}" for u, m in list(self.problems.items())[:20])
            raise TTSDataError(f"{source}: {len(self.problems)} unusable utterance(s) (on_error='skip' drops "
                               f"them):\n{listed}")
        if not self.items:
            raise TTSDataError(f"{source}: no usable utterances ({len(self.problems)} refused)")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        utt, path, ids, _ = self.items[index]
        wav, _ = load(path, self.mel.sample_rate)
        wav, _ = peak_normalise(wav)
        with torch.no_grad():
            mel = self.mel(wav[None].float())[0]
        return {"utt": utt, "tokens": torch.tensor(ids, dtype=torch.long), "mel": mel}

    def subset_indices(self, n: int, seed: int = 0) -> list[int]:
        """Up to ``n`` item indices drawn without replacement (for statistics)."""
        idx = list(range(len(self)))
        random.Random(seed).shuffle(idx)
        return sorted(idx[:n])


def collate(items: list[dict]) -> dict:
    """Pad a list of items into a batch (see the module docstring)."""
    B = len(items)
    tl = torch.tensor([len(it["tokens"]) for it in items])
    ml = torch.tensor([it["mel"].shape[-1] for it in items])
    n_mels = items[0]["mel"].shape[0]
    tokens = torch.zeros(B, int(tl.max()), dtype=torch.long)
    mel = torch.zeros(B, n_mels, int(ml.max()))
    for i, it in enumerate(items):
        tokens[i, : tl[i]] = it["tokens"]
        mel[i, :, : ml[i]] = it["mel"]
    return {"tokens": tokens, "token_lengths": tl, "mel": mel, "mel_lengths": ml, "utt": [it["utt"] for it in items]}


def mel_stats(dataset: TTSDataset, max_items: int | None = 1000, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of every log-mel value over (up to ``max_items``) items,
    the scalar normalisation Matcha-TTS computes on its training set."""
    idx = dataset.subset_indices(max_items, seed) if max_items else range(len(dataset))
    s = s2 = n = 0.0
    for i in idx:
        m = dataset[i]["mel"].double()
        s, s2, n = s + float(m.sum()), s2 + float((m * m).sum()), n + m.numel()
    mean = s / n
    return mean, max(s2 / n - mean * mean, 1e-12) ** 0.5
