"""Vocoder training data: random fixed-length crops of single recordings.

A vocoder learns mel -> waveform from recordings alone, so a data directory's ``wav.scp``
(or another audio table) is all it needs. Every utterance is peak-normalised to 0.95 as
HiFi-GAN and PeriodWave preprocess (``x / max|x| * 0.95``), then a random crop of
``segment`` samples (a multiple of the mel hop, so the crop maps to whole mel frames) is
taken; shorter utterances are zero-padded and ``length`` gives the true length.

Randomness comes from a generator seeded with ``(seed, epoch, index)``, as in
:mod:`audiokit.enh.data`, so a resumed run sees the same crops. With ``train=False`` items
are whole utterances (validation, copy-synthesis).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from audiokit.audio import AudioError, load
from audiokit.datadir import DataDirError, load_audio_table
from audiokit.vocoder.periodwave import PeriodWave

__all__ = ["VocoderDataset", "collate", "peak_normalise", "energy_stats", "PEAK"]

PEAK = 0.95  # HiFi-GAN / PeriodWave: audio = audio / max|audio| * 0.95


def peak_normalise(wav: torch.Tensor, peak: float = PEAK) -> tuple[torch.Tensor, float]:
    """``wav * gain`` with ``max|wav * gain| = peak``; returns the scaled audio and ``gain``.
    Silence (all zeros) is returned unchanged with gain 1."""
    m = float(wav.abs().max()) if wav.numel() else 0.0
    gain = peak / m if m > 0 else 1.0
    return wav * gain, gain


class VocoderDataset(Dataset):
    """Peak-normalised recordings from a data directory or ``.scp`` file.

    Args:
        source: data directory (its ``table``) or an ``.scp`` file of ``utt_id path`` lines.
        sample_rate: audio is resampled to this rate on load.
        segment: crop length in samples for training; must be a multiple of ``hop_length``.
            ``None``: whole utterances.
        hop_length: the mel hop of the model being trained.
        table: which audio table of a data directory to read (``wav.scp``).
        seed, train: see the module docstring.

    Items are ``dict(utt_id=str, wav=Tensor[T], length=int)``.
    """

    def __init__(self, source: str | os.PathLike, sample_rate: int, segment: int | None = None,
                 hop_length: int = 256, table: str = "wav.scp", seed: int = 0, train: bool = True):
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"VocoderDataset: sample_rate must be a positive int, got {sample_rate!r}")
        if segment is not None:
            if not isinstance(segment, int) or segment <= 0 or segment % hop_length:
                raise ValueError(f"VocoderDataset: segment must be a positive multiple of hop_length "
                                 f"({hop_length}) samples, got {segment!r}")
        self.files = load_audio_table(source, default=table)
        if not self.files:
            raise DataDirError(f"{source}: lists no audio")
        self.ids = list(self.files)
        self.sample_rate, self.segment, self.hop_length = sample_rate, segment, hop_length
        self.seed, self.train, self.epoch = int(seed), bool(train), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self.ids):
            raise IndexError(f"index {index} out of range for {len(self.ids)} utterances")
        utt = self.ids[index]
        wav, _ = load(self.files[utt], self.sample_rate)
        wav, _ = peak_normalise(wav)
        if not self.train or self.segment is None:
            return {"utt_id": utt, "wav": wav, "length": wav.numel()}
        rng = np.random.default_rng([self.seed, self.epoch, index])
        n, seg = wav.numel(), self.segment
        if n > seg:
            start = int(rng.integers(0, n - seg + 1))
            return {"utt_id": utt, "wav": wav[start:start + seg], "length": seg}
        return {"utt_id": utt, "wav": torch.nn.functional.pad(wav, (0, seg - n)), "length": n}


def collate(items: list[dict]) -> dict:
    """Zero-pad to the longest item: ``dict(utt_id=list, wav=[B, T], lengths=[B])``."""
    if not items:
        raise ValueError("collate: empty batch")
    T = max(it["wav"].numel() for it in items)
    wav = torch.zeros(len(items), T)
    for i, it in enumerate(items):
        wav[i, :it["wav"].numel()] = it["wav"]
    return {"utt_id": [it["utt_id"] for it in items], "wav": wav,
            "lengths": torch.tensor([it["length"] for it in items], dtype=torch.long)}


@torch.no_grad()
def energy_stats(dataset: VocoderDataset, mel, progress: bool = True) -> tuple[float, float]:
    """Corpus min and max of PeriodWave's frame energy ``sqrt(sum_f exp(mel))`` over whole,
    peak-normalised utterances (the authors' ``extract_energy.py`` statistics, Sec. 3.2).

    ``mel`` is the model's :class:`~audiokit.frontend.mel.MelSpectrogram`.
    """
    lo, hi = float("inf"), float("-inf")
    for i in tqdm(range(len(dataset)), desc="energy stats", disable=not progress, dynamic_ncols=True):
        wav = dataset.files[dataset.ids[i]]
        try:
            x, _ = load(wav, dataset.sample_rate)
        except AudioError as e:
            raise AudioError(f"energy stats: {e}") from None
        x, _ = peak_normalise(x)
        if x.numel() < mel.n_fft:
            continue
        e = PeriodWave.frame_energy(mel(x[None].float()))
        lo, hi = min(lo, float(e.min())), max(hi, float(e.max()))
    if not hi > lo:
        raise ValueError(f"energy stats: no usable utterance (all shorter than n_fft={mel.n_fft} or silent)")
    return lo, hi
