#!/usr/bin/env python3
"""Bring-your-own-corpus data preparation for speech enhancement.

Given a folder of clean speech and a folder of noise recordings (searched recursively
for .wav/.flac/.ogg at any sample rate), writes::

    OUT/train/        spk1.scp utt2spk utt2dur    clean speech, mixed with noise on the fly
    OUT/train_noise/  wav.scp                      noise recordings for training
    OUT/dev/, OUT/test/  wav.scp spk1.scp utt2spk utt2dur utt2snr utt2noise
                                                   fixed mixtures, 16-bit wavs under OUT/wav/

Speakers: when every clean file sits in a sub-folder of ``--clean`` (``spkA/x.wav``) and
there are at least three such folders, the split is by speaker (the first folder level),
so dev/test speakers are unseen in training; otherwise by file. Noise files used for
dev/test are held out from training when there are at least three noise files.
Multichannel files are averaged to mono (with a warning); unreadable files are skipped
and listed. Dev/test mixtures use an SNR uniform in ``--snr-range`` (whole-signal power,
see :mod:`audiokit.augment`) and a random noise file and offset; all draws come from
``--seed``.

Usage: local/data.py --clean DIR --noise DIR --out DATA_DIR [--sample-rate 16000]
       [--dev-fraction 0.05] [--test-fraction 0.05] [--seed 0] [--snr-range -5 15]
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

from audiokit.audio import AudioError, info, load, save  # noqa: E402
from audiokit.augment import mix_at_snr  # noqa: E402
from audiokit.datadir import DataDir  # noqa: E402

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


class DataPrepError(ValueError):
    """The input folders cannot make a usable data set; the message says why."""


def find_audio(root: Path) -> list[Path]:
    """Audio files under ``root`` (recursive, sorted, hidden files skipped)."""
    if not root.is_dir():
        raise DataPrepError(f"{root}: not a directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise DataPrepError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    return files


def utt_id(root: Path, path: Path) -> str:
    """A Kaldi-safe id from the path relative to ``root``: ``spkA/x 1.wav`` -> ``spkA-x_1``."""
    rel = path.relative_to(root).with_suffix("")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "-".join(rel.parts))


def _check(path: Path, skipped: list[str]) -> tuple[float, int] | None:
    """``(duration, channels)`` or ``None`` (recorded in ``skipped``) for an unreadable file."""
    try:
        meta = info(path)
    except AudioError as e:
        skipped.append(str(e))
        return None
    if meta.frames == 0:
        skipped.append(f"{path}: no samples")
        return None
    return meta.frames / meta.samplerate, meta.channels


def _split(keys: list[str], dev_fraction: float, test_fraction: float, rng: np.random.Generator,
           what: str) -> tuple[list[str], list[str], list[str]]:
    keys = [keys[i] for i in rng.permutation(len(keys))]
    n_dev = max(1, round(len(keys) * dev_fraction)) if dev_fraction > 0 else 0
    n_test = max(1, round(len(keys) * test_fraction)) if test_fraction > 0 else 0
    if len(keys) - n_dev - n_test < 1:
        raise DataPrepError(f"only {len(keys)} {what}: not enough for a training split plus "
                            f"{n_dev} dev and {n_test} test {what}")
    return sorted(keys[n_dev + n_test:]), sorted(keys[:n_dev]), sorted(keys[n_dev:n_dev + n_test])


def _mono_source(path: Path, channels: int, out: Path, sample_rate: int) -> Path:
    """The file itself if mono; otherwise a downmixed copy written at ``sample_rate``."""
    if channels == 1:
        return path.resolve()
    warnings.warn(f"{path}: {channels} channels, averaged to mono", stacklevel=2)
    wav, _ = load(path, sample_rate, downmix=True)
    return save(out, wav, sample_rate).resolve()


def _load_mono(entry: tuple[Path, float, int], sample_rate: int):
    path, _, channels = entry
    if channels > 1:
        warnings.warn(f"{path}: {channels} channels, averaged to mono", stacklevel=2)
    return load(path, sample_rate, downmix=True)[0]


def prepare(clean: Path, noise: Path, out: Path, *, sample_rate: int = 16000, dev_fraction: float = 0.05,
            test_fraction: float = 0.05, seed: int = 0, snr_range: tuple[float, float] = (-5.0, 15.0)) -> dict:
    """Write the data directories; return a summary dict (counts, split mode, skipped files)."""
    for name, f in (("dev_fraction", dev_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise DataPrepError(f"{name} must be in [0, 1), got {f}")
    if snr_range[0] > snr_range[1]:
        raise DataPrepError(f"snr range must be LOW HIGH, got {snr_range}")
    clean, noise, out = Path(clean), Path(noise), Path(out)
    rng = np.random.default_rng(seed)
    skipped: list[str] = []

    speech = {}
    for p in find_audio(clean):
        meta = _check(p, skipped)
        if meta is not None:
            speech[utt_id(clean, p)] = (p, *meta)
    noises = {}
    for p in find_audio(noise):
        meta = _check(p, skipped)
        if meta is not None:
            noises[utt_id(noise, p)] = (p, *meta)
    if not speech or not noises:
        raise DataPrepError(f"no readable {'clean' if not speech else 'noise'} files; skipped: {skipped[:5]}")

    # by speaker when files are grouped in per-speaker folders
    spk_of = {u: (p.relative_to(clean).parts[0] if len(p.relative_to(clean).parts) > 1 else None)
              for u, (p, _, _) in speech.items()}
    speakers = sorted(set(spk_of.values()) - {None})
    by_speaker = None not in spk_of.values() and len(speakers) >= 3
    if by_speaker:
        tr, dv, te = _split(speakers, dev_fraction, test_fraction, rng, "speakers")
        sets = {name: sorted(u for u in speech if spk_of[u] in group) for name, group in
                (("train", tr), ("dev", dv), ("test", te))}
    else:
        spk_of = {u: u for u in speech}
        tr, dv, te = _split(sorted(speech), dev_fraction, test_fraction, rng, "clean files")
        sets = {"train": tr, "dev": dv, "test": te}

    noise_ids = sorted(noises)
    if len(noise_ids) >= 3:
        n_tr, n_dv, n_te = _split(noise_ids, dev_fraction, test_fraction, rng, "noise files")
        noise_sets = {"train": n_tr, "dev": n_dv or n_te, "test": n_te or n_dv}
    else:
        warnings.warn(f"only {len(noise_ids)} noise file(s): dev/test mixtures reuse the training noise",
                      stacklevel=2)
        noise_sets = {"train": noise_ids, "dev": noise_ids, "test": noise_ids}

    train = {u: _mono_source(speech[u][0], speech[u][2], out / "wav" / "train" / "clean" / f"{u}.wav", sample_rate)
             for u in sets["train"]}
    DataDir.write(out / "train", spk1_scp={u: str(p) for u, p in train.items()},
                  utt2spk={u: spk_of[u] for u in train}, utt2dur={u: f"{speech[u][1]:.4f}" for u in train})
    train_noise = {u: _mono_source(noises[u][0], noises[u][2], out / "wav" / "train_noise" / f"{u}.wav", sample_rate)
                   for u in noise_sets["train"]}
    DataDir.write(out / "train_noise", wav_scp={u: str(p) for u, p in train_noise.items()})

    for name in ("dev", "test"):
        if not sets[name]:
            continue
        wav_scp, spk1, snrs, which, durs = {}, {}, {}, {}, {}
        for u in sets[name]:
            s = _load_mono(speech[u], sample_rate)
            k = noise_sets[name][int(rng.integers(len(noise_sets[name])))]
            n = _load_mono(noises[k], sample_rate)
            snr = float(np.round(rng.uniform(*snr_range), 2))
            mix = mix_at_snr(s, n, snr, rng)
            save(out / "wav" / name / "noisy" / f"{u}.wav", mix.noisy, sample_rate)
            save(out / "wav" / name / "clean" / f"{u}.wav", mix.clean, sample_rate)
            wav_scp[u] = f"../wav/{name}/noisy/{u}.wav"
            spk1[u] = f"../wav/{name}/clean/{u}.wav"
            snrs[u], which[u], durs[u] = f"{snr:.2f}", k, f"{s.numel() / sample_rate:.4f}"
        DataDir.write(out / name, wav_scp=wav_scp, spk1_scp=spk1, utt2spk={u: spk_of[u] for u in wav_scp},
                      utt2dur=durs, utt2snr=snrs, utt2noise=which)

    for msg in skipped:
        warnings.warn(f"skipped unreadable file: {msg}", stacklevel=2)
    return {"split_by": "speaker" if by_speaker else "file", "skipped": skipped,
            **{name: len(v) for name, v in sets.items()},
            **{f"{name}_noise": len(v) for name, v in noise_sets.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clean", type=Path, required=True, help="folder of clean speech (per-speaker sub-folders optional)")
    p.add_argument("--noise", type=Path, required=True, help="folder of noise recordings")
    p.add_argument("--out", type=Path, required=True, help="data folder to write (train, train_noise, dev, test)")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--dev-fraction", type=float, default=0.05)
    p.add_argument("--test-fraction", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snr-range", type=float, nargs=2, default=(-5.0, 15.0), metavar=("LOW", "HIGH"))
    a = p.parse_args(argv)
    try:
        summary = prepare(a.clean, a.noise, a.out, sample_rate=a.sample_rate, dev_fraction=a.dev_fraction,
                          test_fraction=a.test_fraction, seed=a.seed, snr_range=tuple(a.snr_range))
    except (DataPrepError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"split by {summary['split_by']}: train {summary['train']}, dev {summary['dev']}, test {summary['test']} "
          f"utterances; noise files train {summary['train_noise']}, dev {summary['dev_noise']}, "
          f"test {summary['test_noise']}; skipped {len(summary['skipped'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
