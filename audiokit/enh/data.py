"""Enhancement datasets over Kaldi-style data directories.

Two modes, chosen by whether a noise list is given:

* **paired**: ``wav.scp`` (noisy) and ``spk1.scp`` (clean) list the same utterances;
  both are cropped at the same offset.
* **on-the-fly**: ``spk1.scp`` (clean) plus a noise list (a ``wav.scp`` file or a data
  directory holding one); every item draws a noise file, an offset in it and an SNR
  uniformly from ``snr_range`` and mixes them with :func:`audiokit.augment.mix_at_snr`
  (whole-signal speech power of the cropped clean segment).

Randomness (crop offset, noise choice, SNR) comes from a generator seeded with
``(seed, epoch, index)``, so an item is the same whichever worker loads it, and a new
epoch (:meth:`EnhDataset.set_epoch`) gives new crops and mixtures. In eval mode
(``train=False``) items are whole utterances and do not depend on the epoch.
"""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from audiokit.audio import AudioError, info, load, resample
from audiokit.augment import mix_at_snr
from audiokit.datadir import DataDir, DataDirError, load_audio_table

__all__ = ["EnhDataset", "collate"]

_LENGTH_TOLERANCE = 0.01  # s; paired files may differ by resampler rounding, not more


class EnhDataset(Dataset):
    """Noisy/clean pairs from a data directory.

    Args:
        data_dir: data directory with ``spk1.scp`` and, in paired mode, ``wav.scp``.
        sample_rate: every waveform is resampled to this rate on load.
        segment: crop length in seconds for training (``None``: whole utterances).
            Shorter utterances are zero-padded and ``length`` gives the true length.
        noise: ``wav.scp`` file or data directory of noise recordings; enables on-the-fly mixing.
        snr_range: ``(low, high)`` dB for on-the-fly mixing, sampled uniformly.
        seed: base seed of all randomness.
        train: random crops (if ``segment``) and epoch-dependent mixtures; ``False``
            gives whole utterances, mixed (in on-the-fly mode) the same way every time.

    Items are ``dict(utt_id=str, noisy=Tensor[T], clean=Tensor[T], length=int)``.
    A file that cannot be read raises :class:`audiokit.audio.AudioError` naming it.
    """

    def __init__(self, data_dir: str | os.PathLike, sample_rate: int = 16000, segment: float | None = None,
                 noise: str | os.PathLike | None = None, snr_range: tuple[float, float] = (-5.0, 15.0),
                 seed: int = 0, train: bool = True):
        self.dir = DataDir(data_dir)
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if segment is not None and not segment > 0:
            raise ValueError(f"segment must be a positive number of seconds or None, got {segment!r}")
        low, high = (float(v) for v in snr_range)
        if low > high:
            raise ValueError(f"snr_range must be (low, high) with low <= high, got {snr_range!r}")
        self.sample_rate, self.snr_range, self.seed, self.train = sample_rate, (low, high), int(seed), bool(train)
        self.segment = None if segment is None else int(round(segment * sample_rate))
        self.epoch = 0
        if not self.dir.has("spk1.scp"):
            raise DataDirError(f"{self.dir.path}: missing spk1.scp (clean references)")
        self.clean = self.dir.audio("spk1.scp")
        self.ids = list(self.clean)
        if noise is not None:
            self.noisy = None
            self.noise_files = list(load_audio_table(noise).values())
            self._noise_info: dict[int, tuple[int, int]] = {}
        else:
            if not self.dir.has("wav.scp"):
                raise DataDirError(f"{self.dir.path}: missing wav.scp (noisy input); "
                                   "give noise=... for on-the-fly mixing instead")
            self.noisy = self.dir.audio("wav.scp")
            missing = [u for u in self.ids if u not in self.noisy]
            if missing or len(self.noisy) != len(self.ids):
                extra = [u for u in self.noisy if u not in self.clean]
                raise DataDirError(f"{self.dir.path}: wav.scp and spk1.scp list different utterances "
                                   f"(only in spk1.scp: {missing[:5]}; only in wav.scp: {extra[:5]})")
            self.noise_files = None

    @property
    def on_the_fly(self) -> bool:
        return self.noise_files is not None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crops and mixtures ``__getitem__`` returns (training only)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ids)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if self.train else 0, index, int(self.train)])

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self.ids):
            raise IndexError(f"index {index} out of range for {len(self.ids)} utterances")
        utt = self.ids[index]
        rng = self._rng(index)
        clean, _ = load(self.clean[utt], self.sample_rate)
        if self.on_the_fly:
            full = clean
            clean, length = self._crop(clean, rng)
            # Recordings have silent stretches (ESC-50 clips are zero-padded): draw again
            # rather than fail on a noise segment that has no level to scale.
            for _ in range(20):
                noise = self._draw_noise(clean.numel(), rng)
                if noise[:length].abs().max() > 1e-6:
                    break
            else:
                raise AudioError(f"{self.dir.path}: 20 noise segments in a row were silent; check the noise list")
            snr = float(rng.uniform(*self.snr_range))
            # a crop of silence has no level; then the whole utterance sets the SNR
            ref = clean[:length] if clean[:length].abs().max() > 1e-4 else full
            mix = mix_at_snr(clean[:length], noise[:length], snr, reference=ref)
            noisy = torch.zeros_like(clean)
            noisy[:length], clean = mix.noisy, torch.cat([mix.clean, clean[length:]])
        else:
            noisy, _ = load(self.noisy[utt], self.sample_rate)
            noisy, clean = self._match(utt, noisy, clean)
            offset = self._offset(clean.numel(), rng)
            noisy, length = self._cut(noisy, offset)
            clean, _ = self._cut(clean, offset)
        return {"utt_id": utt, "noisy": noisy, "clean": clean, "length": int(length)}

    # ------------------------------------------------------------------ helpers
    def _offset(self, n: int, rng: np.random.Generator) -> int:
        if not self.train or self.segment is None or n <= self.segment:
            return 0
        return int(rng.integers(0, n - self.segment + 1))

    def _cut(self, x: torch.Tensor, offset: int) -> tuple[torch.Tensor, int]:
        if not self.train or self.segment is None:
            return x, x.numel()
        seg = x[offset:offset + self.segment]
        length = seg.numel()
        if length < self.segment:
            seg = torch.nn.functional.pad(seg, (0, self.segment - length))
        return seg, length

    def _crop(self, x: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        return self._cut(x, self._offset(x.numel(), rng))

    def _match(self, utt: str, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if noisy.numel() == clean.numel():
            return noisy, clean
        if abs(noisy.numel() - clean.numel()) > _LENGTH_TOLERANCE * self.sample_rate:
            raise AudioError(f"{utt}: noisy {self.noisy[utt]} has {noisy.numel()} samples but clean "
                             f"{self.clean[utt]} has {clean.numel()} at {self.sample_rate} Hz")
        n = min(noisy.numel(), clean.numel())
        return noisy[:n], clean[:n]

    def _draw_noise(self, length: int, rng: np.random.Generator) -> torch.Tensor:
        """``length`` samples of a random noise file from a random offset, looped if short."""
        k = int(rng.integers(0, len(self.noise_files)))
        path = self.noise_files[k]
        if k not in self._noise_info:
            meta = info(path)
            self._noise_info[k] = (meta.samplerate, meta.frames)
        sr, frames = self._noise_info[k]
        need = int(np.ceil(length * sr / self.sample_rate)) + 64  # margin for the resampler
        if frames <= need:
            noise, _ = load(path, self.sample_rate, downmix=True)
            reps = -(-length // noise.numel())
            start = int(rng.integers(0, noise.numel()))
            return torch.cat([noise] * (reps + 1))[start:start + length]
        start = int(rng.integers(0, frames - need + 1))
        try:  # read only the needed span: noise recordings may be long
            data, _ = sf.read(str(path), start=start, frames=need, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"{path}: corrupt or truncated audio ({e})") from None
        noise = torch.from_numpy(data.mean(1))
        if not torch.isfinite(noise).all():
            raise AudioError(f"{path}: NaN/Inf samples")
        noise = resample(noise, sr, self.sample_rate)
        if noise.numel() < length:
            noise = torch.nn.functional.pad(noise, (0, length - noise.numel()))
        return noise[:length]


def collate(items: list[dict]) -> dict:
    """Pad ``noisy``/``clean`` to the longest item: ``dict(utt_id=list, noisy=[B,T], clean=[B,T], lengths=[B])``."""
    if not items:
        raise ValueError("collate: empty batch")
    T = max(it["noisy"].numel() for it in items)
    noisy = torch.zeros(len(items), T)
    clean = torch.zeros(len(items), T)
    for i, it in enumerate(items):
        noisy[i, :it["noisy"].numel()] = it["noisy"]
        clean[i, :it["clean"].numel()] = it["clean"]
    return {"utt_id": [it["utt_id"] for it in items], "noisy": noisy, "clean": clean,
            "lengths": torch.tensor([it["length"] for it in items], dtype=torch.long)}
