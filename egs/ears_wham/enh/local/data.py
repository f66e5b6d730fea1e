#!/usr/bin/env python3
"""EARS-WHAM v2 test split (Richter et al., Interspeech 2024) -> data/test at 16 kHz.

``--root`` is the ``EARS-WHAM`` folder written by the corpus's generation script (or the
folder above it), laid out as::

    test/clean/p102/00001.wav ...          48 kHz float wavs, one folder per speaker
    test/noisy/p102/00001_12.3dB.wav ...   the same id, then the mixture's SNR

Every file is resampled to ``--sample-rate`` (16 kHz, the rate of the cross-corpus
results) into ``OUT/wav/test/{clean,noisy}/`` as 16-bit wavs; existing converted files
are kept, so an interrupted run resumes. Writes ``OUT/test`` with ``wav.scp`` (noisy),
``spk1.scp`` (clean), ``utt2spk``, ``utt2dur`` and ``utt2snr``; ids are ``<speaker>_<id>``.

Usage: local/data.py --root DIR --out DATA_DIR [--sample-rate 16000] [--jobs 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

from audiokit.audio import AudioError, convert  # noqa: E402
from audiokit.datadir import DataDir  # noqa: E402

_NOISY = re.compile(r"^(\d+)_(-?\d+(?:\.\d+)?)dB$")


class DataPrepError(ValueError):
    """The corpus folder does not have the expected layout; the message says what is missing."""


def find_root(root: Path) -> Path:
    for cand in (root, root / "EARS-WHAM", root / "EARS-WHAM_v2"):
        if (cand / "test" / "clean").is_dir() and (cand / "test" / "noisy").is_dir():
            return cand
    raise DataPrepError(f"{root}: no test/clean and test/noisy folders here or under EARS-WHAM/ "
                        "(expected the EARS-WHAM v2 layout)")


def _pairs(root: Path) -> dict[str, tuple[Path, Path, str]]:
    """``{utt: (clean, noisy, snr)}`` for the test split."""
    out = {}
    speakers = sorted(p.name for p in (root / "test" / "clean").iterdir() if p.is_dir())
    if not speakers:
        raise DataPrepError(f"{root / 'test' / 'clean'}: no speaker folders")
    for spk in speakers:
        noisy = {}
        for p in sorted((root / "test" / "noisy" / spk).glob("*.wav")):
            m = _NOISY.match(p.stem)
            if not m:
                raise DataPrepError(f"{p}: expected a name <id>_<snr>dB.wav")
            noisy[m.group(1)] = (p, m.group(2))
        clean = {p.stem: p for p in sorted((root / "test" / "clean" / spk).glob("*.wav"))}
        if clean.keys() != noisy.keys():
            only_c, only_n = sorted(clean.keys() - noisy.keys())[:5], sorted(noisy.keys() - clean.keys())[:5]
            raise DataPrepError(f"speaker {spk}: clean and noisy list different ids "
                                f"(only clean: {only_c}; only noisy: {only_n})")
        for i in clean:
            out[f"{spk}_{i}"] = (clean[i], noisy[i][0], noisy[i][1])
    return out


def _convert(job: tuple[Path, Path, int]) -> int:
    return convert(*job)


def prepare(root: Path, out: Path, *, sample_rate: int = 16000, jobs: int = 1) -> int:
    """Write ``out/test``; return the number of utterances."""
    root, out = find_root(Path(root)), Path(out)
    pairs = _pairs(root)
    jobs_list = [(src, out / "wav" / "test" / kind / f"{u}.wav", sample_rate)
                 for u, (c, n, _) in pairs.items() for kind, src in (("clean", c), ("noisy", n))]
    if jobs > 1:
        with mp.get_context("fork").Pool(jobs) as pool:
            lengths = pool.map(_convert, jobs_list, chunksize=8)
    else:
        lengths = [_convert(j) for j in jobs_list]
    n_clean = dict(zip(pairs, lengths[0::2]))
    utts = list(pairs)
    DataDir.write(
        out / "test",
        wav_scp={u: f"../wav/test/noisy/{u}.wav" for u in utts},
        spk1_scp={u: f"../wav/test/clean/{u}.wav" for u in utts},
        utt2spk={u: u.split("_", 1)[0] for u in utts},
        utt2dur={u: f"{n_clean[u] / sample_rate:.4f}" for u in utts},
        utt2snr={u: pairs[u][2] for u in utts},
    )
    return len(utts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="the EARS-WHAM folder or the folder above it")
    p.add_argument("--out", type=Path, required=True, help="data folder to write (test)")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    a = p.parse_args(argv)
    try:
        n = prepare(a.root, a.out, sample_rate=a.sample_rate, jobs=a.jobs)
    except (DataPrepError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"EARS-WHAM v2 test set: {n} utterances in {a.out}/test", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
