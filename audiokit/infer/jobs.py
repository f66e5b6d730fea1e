"""What the batch runners work on: inputs given as files, folders or data directories.

``audiokit enhance`` and ``audiokit vocode`` both turn their IN arguments into jobs here,
so both accept the same things and name their outputs the same way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from audiokit.audio import AudioError
from audiokit.datadir import DataDir, DataDirError, write_table

AUDIO_EXTS = (".wav", ".flac", ".ogg")


@dataclass
class Job:
    utt_id: str
    src: Path
    dst: Path


def collect_jobs(inputs: list[str], out_dir: Path, exts: tuple[str, ...] = AUDIO_EXTS) -> list[Job]:
    """Files, folders (searched recursively for ``exts``) and data directories (their ``wav.scp``).

    Outputs go to ``out_dir/wavs/``: ``<utt>.wav`` for data directories and single files,
    the folder's own sub-structure for folders (utterance id: the relative path joined by '-').
    """
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and (p / "wav.scp").is_file():
            for utt, src in DataDir(p).audio("wav.scp").items():
                jobs.append(Job(utt, src, out_dir / "wavs" / f"{utt}.wav"))
        elif p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in exts and f.is_file())
            if not files:
                raise AudioError(f"{p}: folder holds no input files ({', '.join(exts)})")
            for f in files:
                rel = f.relative_to(p).with_suffix("")
                jobs.append(Job("-".join(rel.parts), f, out_dir / "wavs" / rel.with_suffix(".wav")))
        elif p.is_file():
            jobs.append(Job(p.stem, p, out_dir / "wavs" / f"{p.stem}.wav"))
        else:
            raise AudioError(f"{p}: no such file or directory")
    seen: dict[str, Path] = {}
    for j in jobs:
        if j.utt_id in seen:
            raise DataDirError(f"two inputs map to the same utterance id {j.utt_id!r}: {seen[j.utt_id]} and {j.src}")
        seen[j.utt_id] = j.src
    return jobs


def write_results(out_dir: Path, done: dict[str, str], failures: dict[str, str]) -> None:
    """``out_dir/wav.scp`` for the successes and ``out_dir/failures.txt`` (one line each) for the rest."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if done:
        write_table(Path(out_dir) / "wav.scp", done)
    if failures:
        write_table(Path(out_dir) / "failures.txt", {k: v.replace("\n", " ") for k, v in failures.items()})


def report(verb: str, total: int, failures: dict[str, str], out_dir: Path, what: str = "files") -> int:
    """Print the batch summary the runners share; exit status 1 when anything failed."""
    print(f"{verb} {total - len(failures)}/{total} {what} into {out_dir}", file=sys.stderr)
    if not failures:
        return 0
    print(f"{len(failures)} failed (listed in {Path(out_dir) / 'failures.txt'}):", file=sys.stderr)
    for k, v in list(failures.items())[:10]:
        print(f"  {k}: {v}", file=sys.stderr)
    return 1
