#!/usr/bin/env python3
"""DNS Challenge 2020 synthetic no-reverb test set (Reddy et al., Interspeech 2020) -> data/test.

``--root`` is the ``no_reverb`` folder, or any folder above it (the DNS-Challenge
checkout: ``datasets/test_set/synthetic/no_reverb`` is searched for), holding::

    clean/clean_fileid_0.wav ...
    noisy/<source>_snr<k>_tl-<l>_fileid_0.wav ...   (any prefix; the fileid_N suffix pairs them)

The files are 16 kHz and are listed where they are (nothing is copied). Writes
``OUT/test`` with ``wav.scp`` (noisy), ``spk1.scp`` (clean), ``utt2spk`` (each clip its own
speaker: the set has no speaker labels), ``utt2dur`` and, when the noisy name carries it,
``utt2snr``. Utterance ids are ``fileid_NNNN`` (zero-padded so they sort numerically).

Usage: local/data.py --root DIR --out DATA_DIR
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

from audiokit.audio import AudioError, info  # noqa: E402
from audiokit.datadir import DataDir  # noqa: E402

SUBDIR = Path("datasets/test_set/synthetic/no_reverb")
_FILEID = re.compile(r"fileid_(\d+)\.wav$", re.IGNORECASE)
_SNR = re.compile(r"_snr(-?\d+(?:\.\d+)?)_", re.IGNORECASE)


class DataPrepError(ValueError):
    """The corpus folder does not have the expected layout; the message says what is missing."""


def find_root(root: Path) -> Path:
    for cand in (root, root / SUBDIR, root / "DNS-Challenge" / SUBDIR):
        if (cand / "clean").is_dir() and (cand / "noisy").is_dir():
            return cand
    raise DataPrepError(f"{root}: no clean/ and noisy/ folders here or under {SUBDIR} "
                        "(expected the DNS 2020 synthetic no-reverb test set)")


def _by_fileid(folder: Path) -> dict[int, Path]:
    out: dict[int, Path] = {}
    for p in sorted(folder.glob("*.wav")):
        m = _FILEID.search(p.name)
        if not m:
            raise DataPrepError(f"{p}: file name does not end in fileid_N.wav")
        n = int(m.group(1))
        if n in out:
            raise DataPrepError(f"{folder}: fileid_{n} appears twice ({out[n].name}, {p.name})")
        out[n] = p
    if not out:
        raise DataPrepError(f"{folder}: no .wav files")
    return out


def prepare(root: Path, out: Path, *, expect_rate: int = 16000) -> int:
    """Write ``out/test``; return the number of utterances."""
    root = find_root(Path(root))
    clean, noisy = _by_fileid(root / "clean"), _by_fileid(root / "noisy")
    if clean.keys() != noisy.keys():
        only_c = sorted(clean.keys() - noisy.keys())[:5]
        only_n = sorted(noisy.keys() - clean.keys())[:5]
        raise DataPrepError(f"{root}: clean/ and noisy/ list different fileids "
                            f"(only clean: {only_c}; only noisy: {only_n})")
    width = max(4, len(str(max(clean))))
    wav, spk1, dur, snr = {}, {}, {}, {}
    for n in sorted(clean):
        utt = f"fileid_{n:0{width}d}"
        meta_c, meta_n = info(clean[n]), info(noisy[n])
        for p, meta in ((clean[n], meta_c), (noisy[n], meta_n)):
            if meta.samplerate != expect_rate:
                raise DataPrepError(f"{p}: {meta.samplerate} Hz, expected {expect_rate} Hz")
        if meta_c.frames != meta_n.frames:
            raise DataPrepError(f"fileid_{n}: clean has {meta_c.frames} samples, noisy {meta_n.frames}")
        wav[utt], spk1[utt] = str(noisy[n].resolve()), str(clean[n].resolve())
        dur[utt] = f"{meta_c.frames / meta_c.samplerate:.4f}"
        m = _SNR.search(noisy[n].name)
        if m:
            snr[utt] = m.group(1)
    DataDir.write(Path(out) / "test", wav_scp=wav, spk1_scp=spk1, utt2spk={u: u for u in wav}, utt2dur=dur,
                  utt2snr=snr if len(snr) == len(wav) else None)
    return len(wav)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="the no_reverb folder or a folder above it")
    p.add_argument("--out", type=Path, required=True, help="data folder to write (test)")
    a = p.parse_args(argv)
    try:
        n = prepare(a.root, a.out)
    except (DataPrepError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"DNS 2020 no-reverb test set: {n} utterances in {a.out}/test", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
