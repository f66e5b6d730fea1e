"""Kaldi-style data directories.

A data directory holds one table per file, one ``utt_id value`` line each, sorted by
utterance id:

=============  =====================================================
``wav.scp``    input audio path (noisy speech for enhancement)
``spk1.scp``   clean reference audio path
``text``       transcript
``utt2spk``    speaker id
``utt2dur``    duration in seconds
=============  =====================================================

Relative audio paths are resolved against the directory that holds the table, so a
data directory can be moved together with its audio. Kaldi's pipe entries
(``cmd |``) are not supported and are refused with a clear message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from audiokit.fsutil import atomic_open

__all__ = ["DataDirError", "read_table", "write_table", "DataDir", "validate_data_dir", "AUDIO_TABLES"]

AUDIO_TABLES = ("wav.scp", "spk1.scp")
KNOWN_TABLES = ("wav.scp", "spk1.scp", "text", "utt2spk", "utt2dur", "segments", "spk2utt")


class DataDirError(ValueError):
    """A malformed data directory or table; the message names the file and line."""


def read_table(path: str | os.PathLike, *, check_sorted: bool = False) -> dict[str, str]:
    """Read a Kaldi table into an ordered ``{utt_id: value}`` dict.

    Refuses empty files, lines without a value (except in ``text``, where an empty
    transcript is allowed), duplicate ids and, with ``check_sorted``, ids out of order
    (Kaldi's C-locale byte order).
    """
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: no such file")
    allow_empty_value = path.name == "text"
    table: dict[str, str] = {}
    prev = None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                raise DataDirError(f"{path}:{n}: empty line")
            parts = line.split(maxsplit=1)
            key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
            if line[0].isspace():
                raise DataDirError(f"{path}:{n}: line starts with white space: {line!r}")
            if not value and not allow_empty_value:
                raise DataDirError(f"{path}:{n}: expected 'utt_id value', got {line!r}")
            if key in table:
                raise DataDirError(f"{path}:{n}: duplicate utterance id {key!r}")
            if check_sorted and prev is not None and key.encode() < prev.encode():
                raise DataDirError(f"{path}:{n}: not sorted: {key!r} comes after {prev!r} (sort with LC_ALL=C)")
            table[key] = value
            prev = key
    if not table:
        raise DataDirError(f"{path}: table is empty")
    return table


def write_table(path: str | os.PathLike, table: dict[str, object]) -> Path:
    """Write ``{utt_id: value}`` sorted by id (C-locale order), atomically."""
    path = Path(path)
    for k, v in table.items():
        if not k or any(c.isspace() for c in k):
            raise DataDirError(f"{path}: utterance id {k!r} is empty or contains white space")
        if "\n" in str(v):
            raise DataDirError(f"{path}: value for {k!r} contains a newline")
    with atomic_open(path) as f:
        for k in sorted(table, key=lambda s: s.encode()):
            f.write(f"{k} {table[k]}\n")
    return path


def resolve_audio_path(value: str, base: Path, where: str = "") -> Path:
    """Turn a ``wav.scp`` value into a path; relative paths are relative to ``base``."""
    if value.rstrip().endswith("|"):
        raise DataDirError(f"{where}: pipe entries ('cmd |') are not supported; write audio files instead")
    p = Path(value)
    return p if p.is_absolute() else (base / p)


@dataclass
class DataDir:
    """A data directory on disk; tables are read lazily and cached."""

    path: Path

    def __post_init__(self):
        self.path = Path(self.path)
        if not self.path.is_dir():
            raise DataDirError(f"{self.path}: not a directory")
        self._cache: dict[str, dict[str, str]] = {}

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def table(self, name: str) -> dict[str, str]:
        if name not in self._cache:
            self._cache[name] = read_table(self.path / name)
        return self._cache[name]

    def audio(self, name: str = "wav.scp") -> dict[str, Path]:
        """``{utt_id: absolute path}`` of an audio table."""
        where = str(self.path / name)
        return {k: resolve_audio_path(v, self.path, where) for k, v in self.table(name).items()}

    @property
    def utt_ids(self) -> list[str]:
        for name in ("wav.scp", "spk1.scp", "text"):
            if self.has(name):
                return list(self.table(name))
        raise DataDirError(f"{self.path}: has neither wav.scp, spk1.scp nor text")

    @staticmethod
    def write(path: str | os.PathLike, **tables: dict[str, object]) -> "DataDir":
        """Create a data directory from tables given as keyword arguments.

        Keyword names map to file names: ``wav_scp`` -> ``wav.scp``, ``spk1_scp`` ->
        ``spk1.scp``, others as they are (``text``, ``utt2spk``, ``utt2dur``).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for key, table in tables.items():
            if table is None:
                continue
            name = key[:-4] + ".scp" if key.endswith("_scp") else key
            write_table(path / name, table)
        return DataDir(path)


def load_audio_table(path: str | os.PathLike, default: str = "wav.scp") -> dict[str, Path]:
    """``{utt_id: path}`` from either a data directory (its ``default`` table) or a ``.scp`` file."""
    path = Path(path)
    if path.is_dir():
        return DataDir(path).audio(default)
    table = read_table(path)
    return {k: resolve_audio_path(v, path.parent, str(path)) for k, v in table.items()}


def validate_data_dir(
    path: str | os.PathLike,
    *,
    required: tuple[str, ...] = ("wav.scp",),
    check_audio: bool = False,
) -> DataDir:
    """Check a data directory the way Kaldi's ``validate_data_dir.sh`` does.

    Every table present must parse, be sorted and hold unique ids; all tables must list
    the same utterances; ``utt2dur`` values must be positive numbers; audio paths must
    exist (and, with ``check_audio``, be readable audio). Raises :class:`DataDirError`
    naming the first offending file and line.
    """
    d = DataDir(path)
    for name in required:
        if not d.has(name):
            raise DataDirError(f"{d.path}: missing required file {name}")
    present = [n for n in KNOWN_TABLES if d.has(n) and n not in ("segments", "spk2utt")]
    if not present:
        raise DataDirError(f"{d.path}: no data tables ({', '.join(KNOWN_TABLES[:5])})")
    ref_name, ref_ids = None, None
    for name in present:
        t = read_table(d.path / name, check_sorted=True)
        d._cache[name] = t
        if ref_ids is None:
            ref_name, ref_ids = name, set(t)
        elif set(t) != ref_ids:
            only_ref = sorted(ref_ids - set(t))[:5]
            only_this = sorted(set(t) - ref_ids)[:5]
            raise DataDirError(
                f"{d.path}: {name} and {ref_name} list different utterances "
                f"(only in {ref_name}: {only_ref}; only in {name}: {only_this})")
    if d.has("utt2dur"):
        for n, (k, v) in enumerate(d.table("utt2dur").items(), 1):
            try:
                ok = float(v) > 0
            except ValueError:
                ok = False
            if not ok:
                raise DataDirError(f"{d.path / 'utt2dur'}:{n}: duration of {k!r} must be a positive number, got {v!r}")
    for name in AUDIO_TABLES:
        if not d.has(name):
            continue
        for n, (k, p) in enumerate(d.audio(name).items(), 1):
            if not p.is_file():
                raise DataDirError(f"{d.path / name}:{n}: audio file of {k!r} not found: {p}")
            if check_audio:
                from audiokit.audio import AudioError, info

                try:
                    info(p)
                except AudioError as e:
                    raise DataDirError(f"{d.path / name}:{n}: {e}") from None
    return d
