#!/usr/bin/env python3
"""VB-DemandEx (Kühne et al. 2025, arXiv 2507.00966, Sec. IV-A) built from its sources.

VoiceBank+DEMAND Extended keeps VoiceBank's speakers and utterances but mixes them with
harder noise at lower SNRs: every DEMAND environment plus babble and speech-shaped noise
(SSN), at SNRs {-10, -5, 0, 5, 10, 15, 20} dB, with noise types and SNRs balanced over
each set and no noise realisation shared between sets. This script rebuilds it from

* ``--voicebank``: the clean VoiceBank archives of Edinburgh DataShare (DOI
  10.7488/ds/2117) unzipped: ``clean_trainset_28spk_wav/``, ``clean_testset_wav/`` and,
  optionally, ``trainset_28spk_txt/``, ``testset_txt/`` (48 kHz, resampled here);
* ``--demand``: DEMAND (Thiemann et al. 2013, Zenodo 1227121) unzipped:
  ``<ENV>/ch01.wav`` for environments such as ``DKITCHEN``, ``TBUS`` (channel 1 is used).

Sets (speakers never shared; the test set is never used for model selection):

    train  the 28 training speakers minus the validation speakers
    dev    the validation speakers (default p226, p287) taken from the TRAINING speakers
    test   the official test speakers (p232, p257)

Noise realisations: each DEMAND recording is cut in time into disjoint train / dev / test
parts (``--noise-split``, default 70 / 10 / 20 %); babble sums ``--babble-talkers``
utterances of *other* speakers of the same set; SSN is Gaussian noise shaped by the
long-term average spectrum of the set's clean speech. Conditions: the set's utterances
are dealt round-robin over seeded shuffles of the noise types and the SNRs, so each
noise type occurs equally often (within one) and every (type, SNR) pair comes up. The SNR is the power ratio over the whole utterance
(``audiokit.augment.mix_at_snr``); ``noisy == clean + noise`` holds for the written files.
Everything is drawn from ``--seed`` and the utterance id, so a rerun rebuilds the same
files and an interrupted run resumes (finished files are kept).

Provenance of the SNR list (checked for issue 9; not settled): the paper's abstract says only
"more challenging noise types and lower signal-to-noise ratios" than VoiceBank+DEMAND (whose
grids are 0/5/10/15 dB for training and 2.5/7.5/12.5/17.5 dB for test). The dataset section of
arXiv 2507.00966 could not be read with the tools of this project, and the authors' code
(github.com/NikolaiKyhne/MambAttention) holds no mixing script or SNR list: it downloads the
built corpus from Hugging Face (``NikolaiKyhne/VB-DemandEx``). The only statement found, a
secondary summary, gives "-10 to +20 dB", which the default grid spans in 5 dB steps; whether
the published test set uses the same grid or an offset one (as VoiceBank+DEMAND does) is not
confirmed. ``--snrs`` sets the grid; for numbers comparable with the paper's table, score on the
authors' built test set (a data directory over its ``noisy_test``/``clean_test`` folders).

Writes ``OUT/{train,dev,test}`` with ``wav.scp`` (noisy), ``spk1.scp`` (clean), ``utt2spk``,
``utt2dur``, ``utt2snr``, ``utt2noise`` and, with the transcripts, ``text``; audio in
``OUT/wav/<set>/{clean,noisy}/`` (16-bit, ``--sample-rate``).

Usage: local/data.py --voicebank DIR --demand DIR --out DATA_DIR [--seed 0]
       [--snrs -10 -5 0 5 10 15 20] [--dev-speakers p226 p287]
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

from audiokit.audio import AudioError, info, load, save  # noqa: E402
from audiokit.augment import mix_at_snr  # noqa: E402
from audiokit.datadir import DataDir  # noqa: E402

CLEAN = {"train": "clean_trainset_28spk_wav", "test": "clean_testset_wav"}
TEXT = {"train": "trainset_28spk_txt", "test": "testset_txt"}
DEFAULT_SNRS = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0)
DEFAULT_DEV_SPEAKERS = ("p226", "p287")
SETS = ("train", "dev", "test")


class DataPrepError(ValueError):
    """The corpus folders do not have the expected layout; the message says what is missing."""


def _speaker(utt: str) -> str:
    return utt.split("_", 1)[0]


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def _clean_lists(voicebank: Path, dev_speakers) -> dict[str, dict[str, Path]]:
    found = {}
    for which, folder in CLEAN.items():
        d = voicebank / folder
        if not d.is_dir():
            raise DataPrepError(f"{d}: missing; expected the clean VoiceBank folders "
                                f"{', '.join(CLEAN.values())} under {voicebank}")
        found[which] = {p.stem: p for p in sorted(d.glob("*.wav"))}
        if not found[which]:
            raise DataPrepError(f"{d}: no .wav files")
    dev = set(dev_speakers)
    present = {_speaker(u) for u in found["train"]}
    if dev - present:
        raise DataPrepError(f"validation speakers {sorted(dev - present)} are not in the training set "
                            f"(speakers there: {', '.join(sorted(present))})")
    sets = {"train": {u: p for u, p in found["train"].items() if _speaker(u) not in dev},
            "dev": {u: p for u, p in found["train"].items() if _speaker(u) in dev},
            "test": found["test"]}
    if not sets["train"]:
        raise DataPrepError("no training speakers left after taking out the validation speakers")
    return sets


def _demand_parts(demand: Path, split, sr: int) -> dict[str, dict[str, np.ndarray]]:
    """``{env: {set: noise}}``: channel 1 of each environment cut into disjoint parts."""
    envs = sorted(p.parent.name for p in demand.glob("*/ch01.wav"))
    if not envs:
        raise DataPrepError(f"{demand}: no <ENV>/ch01.wav files (expected the unzipped DEMAND corpus)")
    bounds = np.cumsum([0.0, *split])
    parts = {}
    for env in envs:
        x, _ = load(demand / env / "ch01.wav", sr)
        x = x.numpy().astype(np.float32)
        cut = np.round(bounds / bounds[-1] * x.size).astype(int)
        parts[env] = {s: x[cut[i]:cut[i + 1]] for i, s in enumerate(SETS)}
        for s, seg in parts[env].items():
            if seg.size < sr // 10:
                raise DataPrepError(f"{demand / env / 'ch01.wav'}: too short for a {s} part")
    return parts


def _ltas_noise(ltas: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose spectrum follows the long-term average magnitude ``ltas``."""
    nfft = 2 * (ltas.size - 1)
    reps = -(-n // nfft) + 1
    spec = np.fft.rfft(rng.standard_normal(reps * nfft))
    gain = np.interp(np.linspace(0, 1, spec.size), np.linspace(0, 1, ltas.size), ltas)
    return np.fft.irfft(spec * gain, reps * nfft)[:n]


def _ltas(signals: list[np.ndarray], nfft: int = 512) -> np.ndarray:
    acc, count = np.zeros(nfft // 2 + 1), 0
    win = np.hanning(nfft)
    for x in signals:
        for start in range(0, x.size - nfft + 1, nfft // 2):
            acc += np.abs(np.fft.rfft(x[start:start + nfft] * win)) ** 2
            count += 1
    if not count:
        raise DataPrepError("clean speech too short to estimate the speech-shaped-noise spectrum")
    return np.sqrt(acc / count)


# Worker state (set by prepare before forking): the clean signals, noise parts, options.
_STATE: dict = {}


def _make(job: tuple[str, str, str, float]) -> tuple[str, int]:
    """Write one mixture (or keep an existing one); return (utt, clean length)."""
    name, utt, noise_type, snr = job
    st = _STATE
    out: Path = st["out"]
    sr = st["sr"]
    clean_path = out / "wav" / name / "clean" / f"{utt}.wav"
    noisy_path = out / "wav" / name / "noisy" / f"{utt}.wav"
    if clean_path.is_file() and noisy_path.is_file():
        try:
            mc, mn = info(clean_path), info(noisy_path)
            if mc.frames == mn.frames > 0 and mc.samplerate == sr:
                return utt, mc.frames
        except AudioError:
            pass
    rng = _rng(st["seed"], name, utt)
    clean = st["clean"][name][utt]
    if noise_type == "babble":
        others = [u for u in st["clean"][name] if _speaker(u) != _speaker(utt)]
        if not others:
            raise DataPrepError(f"{name}: babble needs utterances of another speaker than {_speaker(utt)}")
        picks = rng.choice(len(others), size=min(st["babble_talkers"], len(others)), replace=False)
        noise = np.zeros(clean.size)
        for k in picks:
            talker = st["clean"][name][others[k]]
            talker = np.resize(talker, clean.size)  # loop a short talker
            noise += talker / max(np.sqrt(np.mean(talker ** 2)), 1e-9)
    elif noise_type == "ssn":
        noise = _ltas_noise(st["ltas"][name], clean.size, rng)
    else:
        noise = st["demand"][noise_type][name]
    mix = mix_at_snr(clean, noise, snr, rng)
    save(clean_path, np.asarray(mix.clean, dtype=np.float32), sr)
    save(noisy_path, np.asarray(mix.noisy, dtype=np.float32), sr)
    return utt, clean.size


def prepare(voicebank: Path, demand: Path, out: Path, *, seed: int = 0, snrs=DEFAULT_SNRS,
            dev_speakers=DEFAULT_DEV_SPEAKERS, noise_split=(0.7, 0.1, 0.2), babble_talkers: int = 5,
            sample_rate: int = 16000) -> dict:
    """Build ``out/{train,dev,test}``; return ``{set: number of utterances, "noise_types": [...]}``."""
    voicebank, demand, out = Path(voicebank), Path(demand), Path(out)
    if len(noise_split) != 3 or min(noise_split) <= 0:
        raise DataPrepError(f"noise split must be three positive fractions (train dev test), got {noise_split}")
    snrs = [float(s) for s in snrs]
    if not snrs:
        raise DataPrepError("no SNRs given")
    lists = _clean_lists(voicebank, dev_speakers)
    parts = _demand_parts(demand, noise_split, sample_rate)
    noise_types = [*parts, "babble", "ssn"]
    clean = {name: {u: load(p, sample_rate)[0].numpy().astype(np.float32) for u, p in pairs.items()}
             for name, pairs in lists.items()}
    for name, sigs in clean.items():
        silent = [u for u, x in sigs.items() if not np.any(x)]
        if silent:
            raise DataPrepError(f"{name}: silent clean utterances {silent[:5]}")
    ltas_rng = _rng(seed, "ltas")
    ltas = {}
    for name, sigs in clean.items():
        keys = sorted(sigs)
        pick = [keys[i] for i in sorted(ltas_rng.choice(len(keys), size=min(200, len(keys)), replace=False))]
        ltas[name] = _ltas([sigs[u] for u in pick])

    jobs_list, conditions = [], {}
    for name in SETS:
        rng = _rng(seed, "conditions", name)
        kinds = [noise_types[k] for k in rng.permutation(len(noise_types))]
        levels = [snrs[k] for k in rng.permutation(len(snrs))]
        utts = sorted(clean[name])
        utts = [utts[i] for i in rng.permutation(len(utts))]
        for i, u in enumerate(utts):
            # noise types round-robin; the SNR shifts by one per round, so every
            # (type, SNR) pair comes up once in len(types) x len(SNRs) utterances
            j, b = i % len(kinds), i // len(kinds)
            noise_type, snr = kinds[j], levels[(b + j) % len(levels)]
            conditions[(name, u)] = (noise_type, snr)
            jobs_list.append((name, u, noise_type, snr))

    _STATE.update(out=out, sr=sample_rate, seed=seed, clean=clean, demand=parts, ltas=ltas,
                  babble_talkers=babble_talkers)
    # Serial on purpose: forking after torch has run in this process can deadlock its
    # thread pools, and the mixing itself is cheap next to reading the corpus.
    try:
        lengths = dict(_make(j) for j in jobs_list)
    finally:
        _STATE.clear()

    texts = {}
    for folder in TEXT.values():
        d = voicebank / folder
        if d.is_dir():
            texts.update({p.stem: " ".join(p.read_text(encoding="utf-8", errors="replace").split())
                          for p in d.glob("*.txt")})
    counts = {}
    for name in SETS:
        utts = sorted(clean[name])
        DataDir.write(
            out / name,
            wav_scp={u: f"../wav/{name}/noisy/{u}.wav" for u in utts},
            spk1_scp={u: f"../wav/{name}/clean/{u}.wav" for u in utts},
            utt2spk={u: _speaker(u) for u in utts},
            utt2dur={u: f"{lengths[u] / sample_rate:.4f}" for u in utts},
            utt2snr={u: f"{conditions[(name, u)][1]:g}" for u in utts},
            utt2noise={u: conditions[(name, u)][0] for u in utts},
            text={u: texts[u] for u in utts} if all(u in texts for u in utts) else None,
        )
        counts[name] = len(utts)
    counts["noise_types"] = noise_types
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voicebank", type=Path, required=True, help="folder with the unzipped clean VoiceBank archives")
    p.add_argument("--demand", type=Path, required=True, help="folder with the unzipped DEMAND environments")
    p.add_argument("--out", type=Path, required=True, help="data folder to write (train, dev, test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snrs", type=float, nargs="+", default=list(DEFAULT_SNRS))
    p.add_argument("--dev-speakers", nargs="+", default=list(DEFAULT_DEV_SPEAKERS))
    p.add_argument("--noise-split", type=float, nargs=3, default=[0.7, 0.1, 0.2], metavar=("TRAIN", "DEV", "TEST"))
    p.add_argument("--babble-talkers", type=int, default=5)
    p.add_argument("--sample-rate", type=int, default=16000)
    a = p.parse_args(argv)
    try:
        n = prepare(a.voicebank, a.demand, a.out, seed=a.seed, snrs=a.snrs, dev_speakers=a.dev_speakers,
                    noise_split=a.noise_split, babble_talkers=a.babble_talkers, sample_rate=a.sample_rate)
    except (DataPrepError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"VB-DemandEx: train {n['train']}, dev {n['dev']}, test {n['test']} utterances in {a.out}; "
          f"noise types {', '.join(n['noise_types'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
