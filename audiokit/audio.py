"""Audio I/O: load, save (atomic) and resample, with explicit sample rates and clear errors.

Files are read and written with soundfile (WAV, FLAC, OGG/Vorbis, ...), never through
torchaudio.load, which would pull in FFmpeg. Tensors are float32 in [-1, 1]: ``[samples]``
for mono, ``[channels, samples]`` otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiokit.fsutil import atomic_path

__all__ = ["AudioError", "load", "save", "resample", "info", "check_waveform", "convert"]


class AudioError(ValueError):
    """A file or waveform that cannot be used as audio; the message names it and says why."""


def info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """Header of an audio file (samplerate, frames, channels, format), with clear errors."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{path}: not a readable audio file ({e})") from None


def check_waveform(wav: torch.Tensor | np.ndarray, name: str = "waveform") -> None:
    """Raise :class:`AudioError` if ``wav`` is empty or holds NaN/Inf samples."""
    t = torch.as_tensor(wav)
    if t.numel() == 0:
        raise AudioError(f"{name}: no samples")
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).sum().item()
        raise AudioError(f"{name}: {bad} NaN/Inf samples")


def load(
    path: str | os.PathLike,
    sr: int | None = None,
    *,
    mono: bool = True,
    downmix: bool = False,
    check_finite: bool = True,
) -> tuple[torch.Tensor, int]:
    """Read an audio file as float32.

    Args:
        path: WAV/FLAC/OGG (anything libsndfile reads).
        sr: target sample rate; the file is resampled to it when it differs. ``None``
            keeps the file's rate. The returned rate is always the tensor's rate.
        mono: return ``[samples]``. A multichannel file is an error unless ``downmix``
            (average the channels). ``mono=False`` returns ``[channels, samples]``.
        check_finite: refuse files with NaN/Inf samples (float WAVs can hold them).

    Returns:
        ``(waveform, sample_rate)``.
    """
    meta = info(path)
    if meta.frames == 0:
        raise AudioError(f"{path}: audio file has no samples")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{path}: corrupt or truncated audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file has no samples")
    wav = torch.from_numpy(np.ascontiguousarray(data.T))  # [C, T]
    if check_finite:
        check_waveform(wav, str(path))
    if mono:
        if wav.shape[0] > 1:
            if not downmix:
                raise AudioError(
                    f"{path}: has {wav.shape[0]} channels, expected mono "
                    "(pass downmix=True / --downmix to average the channels)")
            wav = wav.mean(0, keepdim=True)
        wav = wav[0]
    if sr is not None and sr != file_sr:
        wav = resample(wav, file_sr, sr)
        file_sr = sr
    return wav, int(file_sr)


def resample(wav: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited sinc resampling (torchaudio) along the last axis; any leading shape."""
    if orig_sr <= 0 or new_sr <= 0:
        raise AudioError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    if orig_sr == new_sr:
        return wav
    import torchaudio.functional as AF

    return AF.resample(wav, int(orig_sr), int(new_sr))


def save(path: str | os.PathLike, wav: torch.Tensor | np.ndarray, sr: int, *, subtype: str | None = None) -> Path:
    """Write ``wav`` (``[samples]`` or ``[channels, samples]``) atomically.

    The format follows the extension (``.wav`` PCM-16 by default, ``.flac``, ``.ogg``).
    Samples outside [-1, 1] are clipped for integer formats; NaN/Inf is refused so a
    broken model never leaves a plausible-looking file behind.
    """
    path = Path(path)
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioError(f"{path}: sample rate must be a positive integer, got {sr!r}")
    x = wav.detach().to("cpu", torch.float32).numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav, np.float32)
    if x.ndim == 2:
        x = x.T  # soundfile wants [T, C]
    elif x.ndim != 1:
        raise AudioError(f"{path}: expected [samples] or [channels, samples], got shape {tuple(x.shape)}")
    check_waveform(x, str(path))
    ext = path.suffix.lower()
    if subtype is None and ext in (".wav", ".flac", ""):
        subtype = "PCM_16"
    if subtype is not None and subtype.startswith("PCM"):
        x = np.clip(x, -1.0, 1.0)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(ext)
    if fmt is None:
        raise AudioError(f"{path}: unsupported extension {ext!r} (use .wav, .flac or .ogg)")
    with atomic_path(path) as tmp:
        sf.write(tmp, x, int(sr), subtype=subtype, format=fmt)
    return path


def convert(src: str | os.PathLike, dst: str | os.PathLike, sr: int, *, downmix: bool = False) -> int:
    """Write ``src`` resampled to ``sr`` as ``dst``; return its length in samples.

    Corpus preparation calls this for thousands of files: a valid ``dst`` from an earlier,
    interrupted run is kept, so re-running a data stage resumes instead of starting over.
    """
    dst = Path(dst)
    if dst.is_file():
        try:
            meta = info(dst)
            if meta.samplerate == sr and meta.frames > 0:
                return meta.frames
        except AudioError:
            pass  # a broken leftover: convert again
    wav, _ = load(src, sr, downmix=downmix)
    save(dst, wav, sr)
    return wav.numel()
