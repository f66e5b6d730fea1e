#!/usr/bin/env python3
"""VoiceBank+DEMAND (Valentini-Botinhao et al. 2016, DOI 10.7488/ds/2117) -> data directories.

Expects the standard layout of the Edinburgh DataShare archives, unzipped under ``--root``::

    clean_trainset_28spk_wav/p226_001.wav ...   noisy_trainset_28spk_wav/p226_001.wav ...
    clean_testset_wav/p232_001.wav ...          noisy_testset_wav/p232_001.wav ...
    trainset_28spk_txt/p226_001.txt ...         testset_txt/p232_001.txt ...   (optional)

and writes, with every file resampled from 48 kHz to ``--sample-rate`` (16 kHz) as 16-bit
wavs under ``OUT/wav/<set>/{noisy,clean}/``::

    OUT/train  the 28 training speakers minus the validation speakers
    OUT/dev    the validation speakers (default p226 and p287, a common choice), taken
               from the TRAINING set: the test set is never used for model selection
    OUT/test   the official test set (speakers p232, p257)

each with ``wav.scp`` (noisy), ``spk1.scp`` (clean), ``utt2spk``, ``utt2dur`` and, when the
transcripts are present, ``text``. Converted files that already exist are kept, so an
interrupted run resumes.

Usage: local/data.py --root DIR --out DATA_DIR [--sample-rate 16000]
       [--dev-speakers p226 p287] [--jobs 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

from audiokit.audio import AudioError, convert  # noqa: E402
from audiokit.datadir import DataDir  # noqa: E402

LAYOUT = {  # set -> (clean folder, noisy folder, transcript folder)
    "train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "trainset_28spk_txt"),
    "test": ("clean_testset_wav", "noisy_testset_wav", "testset_txt"),
}
DEFAULT_DEV_SPEAKERS = ("p226", "p287")


class DataPrepError(ValueError):
    """The corpus folder does not have the expected layout; the message says what is missing."""


def _pairs(root: Path, which: str) -> dict[str, tuple[Path, Path]]:
    clean_dir, noisy_dir = (root / LAYOUT[which][0], root / LAYOUT[which][1])
    for d in (clean_dir, noisy_dir):
        if not d.is_dir():
            raise DataPrepError(f"{d}: missing; expected the VoiceBank+DEMAND folders "
                                f"{', '.join(f for v in LAYOUT.values() for f in v[:2])} under {root}")
    clean = {p.stem: p for p in clean_dir.glob("*.wav")}
    noisy = {p.stem: p for p in noisy_dir.glob("*.wav")}
    if not clean:
        raise DataPrepError(f"{clean_dir}: no .wav files")
    if clean.keys() != noisy.keys():
        only_c = sorted(clean.keys() - noisy.keys())[:5]
        only_n = sorted(noisy.keys() - clean.keys())[:5]
        raise DataPrepError(f"{clean_dir} and {noisy_dir} list different utterances "
                            f"(only clean: {only_c}; only noisy: {only_n})")
    return {u: (clean[u], noisy[u]) for u in sorted(clean)}


def _speaker(utt: str) -> str:
    return utt.split("_", 1)[0]


def _convert(job: tuple[Path, Path, int]) -> int:
    return convert(*job)


def prepare(root: Path, out: Path, *, sample_rate: int = 16000, dev_speakers=DEFAULT_DEV_SPEAKERS,
            jobs: int = 1) -> dict:
    """Write ``out/{train,dev,test}``; return ``{set: number of utterances}``."""
    root, out = Path(root), Path(out)
    train_all, test = _pairs(root, "train"), _pairs(root, "test")
    dev_speakers = set(dev_speakers)
    present = {_speaker(u) for u in train_all}
    if dev_speakers - present:
        raise DataPrepError(f"validation speakers {sorted(dev_speakers - present)} are not in the training set "
                            f"(speakers there: {', '.join(sorted(present))})")
    sets = {
        "train": {u: v for u, v in train_all.items() if _speaker(u) not in dev_speakers},
        "dev": {u: v for u, v in train_all.items() if _speaker(u) in dev_speakers},
        "test": test,
    }
    if not sets["train"]:
        raise DataPrepError("no training speakers left after taking out the validation speakers")
    texts = {}
    for which, (_, _, txt_dir) in LAYOUT.items():
        d = root / txt_dir
        if d.is_dir():
            texts.update({p.stem: " ".join(p.read_text(encoding="utf-8", errors="replace").split())
                          for p in d.glob("*.txt")})

    jobs_list, index = [], []
    for name, pairs in sets.items():
        for u, (c, n) in pairs.items():
            for kind, src in (("clean", c), ("noisy", n)):
                jobs_list.append((src, out / "wav" / name / kind / f"{u}.wav", sample_rate))
                index.append((name, u, kind))
    if jobs > 1:
        with mp.get_context("fork").Pool(jobs) as pool:
            lengths = pool.map(_convert, jobs_list, chunksize=16)
    else:
        lengths = [_convert(j) for j in jobs_list]
    n_samples = {(name, u, kind): n for (name, u, kind), n in zip(index, lengths)}

    for name, pairs in sets.items():
        utts = list(pairs)
        has_text = all(u in texts for u in utts)
        DataDir.write(
            out / name,
            wav_scp={u: f"../wav/{name}/noisy/{u}.wav" for u in utts},
            spk1_scp={u: f"../wav/{name}/clean/{u}.wav" for u in utts},
            utt2spk={u: _speaker(u) for u in utts},
            utt2dur={u: f"{n_samples[(name, u, 'clean')] / sample_rate:.4f}" for u in utts},
            text={u: texts[u] for u in utts} if has_text else None,
        )
    return {name: len(pairs) for name, pairs in sets.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="folder holding the unzipped archives")
    p.add_argument("--out", type=Path, required=True, help="data folder to write (train, dev, test)")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--dev-speakers", nargs="+", default=list(DEFAULT_DEV_SPEAKERS))
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    a = p.parse_args(argv)
    try:
        n = prepare(a.root, a.out, sample_rate=a.sample_rate, dev_speakers=a.dev_speakers, jobs=a.jobs)
    except (DataPrepError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"VoiceBank+DEMAND: train {n['train']}, dev {n['dev']}, test {n['test']} utterances in {a.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
