#!/usr/bin/env python3
"""LJSpeech layout -> data directories train/dev/test (wav.scp, text, utt2spk).

Reads ``ROOT/metadata.csv`` (``id|transcript|normalised transcript``) and ``ROOT/wavs/<id>.wav``
(or ``.flac``). Split, deterministic and documented: utterances sorted by id, the last
``--n-test`` are the test set, the ``--n-dev`` before them the dev set, the rest train
(with the full corpus: test = the last 100 clips of LJ050, dev the 100 before).
Clips listed in metadata.csv without an audio file are an error naming them.
"""

import argparse
import sys
from pathlib import Path

from audiokit.datadir import DataDir, DataDirError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, type=Path, help="LJSpeech folder (metadata.csv, wavs/)")
    p.add_argument("--out", default=Path("data"), type=Path)
    p.add_argument("--n-dev", type=int, default=100)
    p.add_argument("--n-test", type=int, default=100)
    a = p.parse_args(argv)
    meta = a.root / "metadata.csv"
    if not meta.is_file():
        raise DataDirError(f"{a.root}: no metadata.csv (expected the LJSpeech-1.1 layout; run stage -1 to download)")
    rows = {}
    for n, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 2:
            raise DataDirError(f"{meta}:{n}: expected 'id|transcript|normalised', got {line[:80]!r}")
        rows[parts[0]] = parts[2] if len(parts) > 2 and parts[2] else parts[1]
    ids = sorted(rows)
    audio, missing = {}, []
    for u in ids:
        f = next((a.root / "wavs" / f"{u}{ext}" for ext in (".wav", ".flac") if (a.root / "wavs" / f"{u}{ext}").is_file()), None)
        if f is None:
            missing.append(u)
        else:
            audio[u] = f.resolve()
    if missing:
        raise DataDirError(f"{a.root}/wavs: no .wav/.flac for {len(missing)} clip(s) of metadata.csv, e.g. {missing[:5]}")
    if a.n_dev < 1 or a.n_test < 1 or a.n_dev + a.n_test >= len(ids):
        raise ValueError(f"--n-dev {a.n_dev} + --n-test {a.n_test} must leave training clips of {len(ids)}")
    test = ids[-a.n_test:]
    dev = ids[-a.n_test - a.n_dev:-a.n_test]
    train = ids[:-a.n_test - a.n_dev]
    for name, sel in (("train", train), ("dev", dev), ("test", test)):
        DataDir.write(a.out / name, wav_scp={u: audio[u] for u in sel}, text={u: rows[u] for u in sel},
                      utt2spk={u: "LJ" for u in sel})
        print(f"{a.out / name}: {len(sel)} utterances", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
