#!/usr/bin/env python3
"""Generate the embedded mini enhancement corpus: synthetic speech + procedural noise, no download.

Clean speech is synthesised with eSpeak NG (:class:`audiokit.text.espeak.EspeakNG`):
eight voice/variant combinations act as speakers, split BY SPEAKER into train (6), dev (1)
and test (1); every utterance draws its own speaking rate, pitch and intonation range and
a sentence from ``tools/mini_corpus_sentences.txt``. Noise is generated procedurally:
white / pink / brown noise, babble (3-6 talkers from a voice pool disjoint from the
target speakers, and disjoint between train and dev/test), mains hum with harmonics,
clicks, and mixtures of two or three of these. Each clean utterance is set to a random
level and mixed at an SNR uniform in ``--snr-range`` (whole-signal power, see
:mod:`audiokit.augment`); the clean reference is the one actually mixed (joint rescale
against clipping applies to both).

Output (paths in tables are relative to the table's directory)::

    OUT/{train,dev,test}/wav.scp   noisy input          OUT/wav/<set>/noisy/<utt>.wav
                        spk1.scp   clean reference      OUT/wav/<set>/clean/<utt>.wav
                        text utt2spk utt2dur utt2snr utt2noise
    OUT/noise/wav.scp               the training noises  OUT/wav/train/noise/<utt>.wav
                                    (for on-the-fly mixing experiments)

Everything is a function of ``--seed`` and the options: each utterance has its own
generator seeded with ``(seed, set, index)``, and eSpeak's internal state is made
reproducible by fixed shards in fresh processes (see :func:`generate`), so the bytes are
identical between runs and between ``--jobs`` settings.

With ``--voice VOICE`` (e.g. ``en-us+m1``) every split is spoken by that one eSpeak voice,
speaker ``spk00``: a single-speaker corpus for TTS (sentences still disjoint between splits).

Usage: python tools/make_mini_corpus.py OUT_DIR [--sample-rate 16000] [--seed 0]
       [--n-train 600] [--n-dev 50] [--n-test 50] [--jobs 2] [--voice VOICE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from a checkout
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from audiokit.audio import resample, save  # noqa: E402
from audiokit.augment import fit_length, mix_at_snr  # noqa: E402
from audiokit.datadir import DataDir  # noqa: E402
from audiokit.fsutil import atomic_open  # noqa: E402
from audiokit.text.espeak import EspeakNG  # noqa: E402

SENTENCES = Path(__file__).with_name("mini_corpus_sentences.txt")

# (speaker id, eSpeak voice+variant, base pitch 0..100); split by speaker
SPEAKERS = {
    "train": [("spk01", "en-us+m1", 40), ("spk02", "en-us+f2", 55), ("spk03", "en-gb+m3", 50),
              ("spk04", "en-gb+f1", 60), ("spk05", "en-029+m2", 45), ("spk06", "en-gb-scotland+f3", 50)],
    "dev": [("spk07", "en-us-nyc+m4", 45)],
    "test": [("spk08", "en-gb-x-rp+f4", 55)],
}
# babble talkers: never a target speaker; the train pool and the dev/test pool are disjoint
BABBLE_VOICES = {
    "train": ["en-us+m5", "en-gb+m6", "en-029+f5", "en-us+Annie", "en-gb+david", "en-us+linda"],
    "eval": ["en-gb-x-rp+m7", "en-us-nyc+f5", "en-gb-scotland+m8", "en-us+john"],
}
NOISE_TYPES = ("white", "pink", "brown", "babble", "hum", "clicks", "mixture")
SPLIT_INDEX = {"train": 0, "dev": 1, "test": 2}
SYNTH_SR = 22050
SHARDS = 2  # fixed: the bytes must not depend on how many processes run them


# ---------------------------------------------------------------------------- speech
def _trim(wav: np.ndarray, sr: int, threshold: float = 2e-3, margin: float = 0.08) -> np.ndarray:
    """Cut eSpeak's leading/trailing silence, keeping a short natural margin."""
    idx = np.flatnonzero(np.abs(wav) > threshold)
    if idx.size == 0:
        return wav
    m = int(margin * sr)
    return wav[max(0, idx[0] - m): idx[-1] + m + 1]


def _speak(text: str, voice: str, rng: np.random.Generator, base_pitch: int) -> np.ndarray:
    wav, sr = EspeakNG().synthesize(
        text, voice=voice, rate=int(rng.integers(145, 211)),
        pitch=int(np.clip(base_pitch + rng.integers(-8, 9), 0, 100)),
        pitch_range=int(rng.integers(25, 81)), seed=int(rng.integers(2 ** 31)))
    return _trim(wav, sr)


def _utterance(sentences: list[str], voice: str, base_pitch: int, rng: np.random.Generator,
               min_dur: float, max_dur: float) -> tuple[np.ndarray, str]:
    """One utterance at 22.05 kHz between ``min_dur`` and ``max_dur`` seconds, and its text."""
    target = rng.uniform(min_dur, max_dur)  # spread lengths over the whole range
    texts, parts, dur = [], [], 0.0
    for _ in range(8):
        text = sentences[int(rng.integers(len(sentences)))]
        wav = _speak(text, voice, rng, base_pitch)
        gap = np.zeros(int(rng.uniform(0.15, 0.35) * SYNTH_SR) if parts else 0, np.float32)
        if dur + (gap.size + wav.size) / SYNTH_SR > max_dur:
            if dur >= min_dur:
                break
            continue  # too long to append; try another sentence
        parts += [gap, wav]
        texts.append(text)
        dur += (gap.size + wav.size) / SYNTH_SR
        if dur >= target:
            break
    if not parts:  # every draw was too long: keep the last one, cut at max_dur
        parts, texts = [wav[: int(max_dur * SYNTH_SR)]], [text]
    return np.concatenate(parts), " ".join(texts)


# ---------------------------------------------------------------------------- noise
def _coloured(n: int, alpha: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^alpha (0 white, 1 pink, 2 brown), 20 Hz high-pass."""
    m = 1 << int(np.ceil(np.log2(n)))  # a power-of-two FFT, then crop
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1 / sr)
    spec *= np.where(f < 20.0, 0.0, np.maximum(f, 20.0) ** (-alpha / 2))
    return np.fft.irfft(spec, m)[:n]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _hum(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    f0 = float(rng.choice([50.0, 60.0])) * rng.uniform(0.995, 1.005)
    t = np.arange(n) / sr
    decay = rng.uniform(0.5, 1.5)
    odd_boost = rng.uniform(1.0, 3.0)  # rectifier/transformer hum favours odd harmonics
    out = np.zeros(n)
    for k in range(1, int(rng.integers(4, 13)) + 1):
        if k * f0 >= sr / 2:
            break
        amp = k ** -decay * (odd_boost if k % 2 else 1.0)
        out += amp * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    out *= 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t)  # slow level wobble
    return _unit(out) + 0.03 * rng.standard_normal(n)


def _clicks(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = 0.01 * rng.standard_normal(n)  # a floor, so the noise is never silent
    count = max(1, rng.poisson(rng.uniform(1.0, 15.0) * n / sr))
    for pos in rng.integers(0, n, size=count):
        length = int(rng.uniform(0.001, 0.01) * sr)
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 4))
        amp = 10 ** rng.uniform(-1, 0) * rng.choice([-1, 1])
        end = min(n, pos + length)
        out[pos:end] += amp * burst[: end - pos]
    return out


def _babble(n: int, sr: int, rng: np.random.Generator, sentences: list[str], voices: list[str]) -> np.ndarray:
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        voice = voices[int(rng.integers(len(voices)))]
        text = " ".join(sentences[int(k)] for k in rng.integers(len(sentences), size=2))
        talk = _speak(text, voice, rng, int(rng.integers(30, 71)))
        talk = resample(torch.from_numpy(talk), SYNTH_SR, sr).numpy().astype(np.float64)
        out += _unit(fit_length(talk, n, rng)) * 10 ** (rng.uniform(-6, 0) / 20)
    return out


def make_noise(kind: str, n: int, sr: int, rng: np.random.Generator, sentences: list[str],
               babble_voices: list[str]) -> np.ndarray:
    """``n`` samples of noise of the given kind, unit RMS, float32."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = _coloured(n, 1.0, sr, rng)
    elif kind == "brown":
        x = _coloured(n, 2.0, sr, rng)
    elif kind == "hum":
        x = _hum(n, sr, rng)
    elif kind == "clicks":
        x = _clicks(n, sr, rng)
    elif kind == "babble":
        x = _babble(n, sr, rng, sentences, babble_voices)
    elif kind == "mixture":
        kinds = rng.choice([k for k in NOISE_TYPES if k != "mixture"], size=int(rng.integers(2, 4)), replace=False)
        x = sum(_unit(make_noise(str(k), n, sr, rng, sentences, babble_voices)) * 10 ** (rng.uniform(-10, 0) / 20)
                for k in kinds)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {NOISE_TYPES}")
    return _unit(x).astype(np.float32)


# ---------------------------------------------------------------------------- corpus
def _job(args) -> dict:
    (split, index, speaker, voice, base_pitch, out_dir, sr, seed, sentences, all_sentences,
     snr_range, min_dur, max_dur) = args
    torch.set_num_threads(1)
    rng = np.random.default_rng([seed, SPLIT_INDEX[split], index])
    utt = f"{speaker}_{split}{index:04d}"
    speech, text = _utterance(sentences, voice, base_pitch, rng, min_dur, max_dur)
    clean = resample(torch.from_numpy(speech), SYNTH_SR, sr)
    clean = clean * (10 ** (rng.uniform(-33, -23) / 20) / clean.pow(2).mean().sqrt())
    kind = NOISE_TYPES[int(rng.integers(len(NOISE_TYPES)))]
    noise = make_noise(kind, clean.numel(), sr, rng, all_sentences,
                       BABBLE_VOICES["train" if split == "train" else "eval"])
    snr = float(np.round(rng.uniform(*snr_range), 2))
    mix = mix_at_snr(clean, torch.from_numpy(noise), snr, rng)
    out = Path(out_dir) / "wav" / split
    save(out / "noisy" / f"{utt}.wav", mix.noisy, sr)
    save(out / "clean" / f"{utt}.wav", mix.clean, sr)
    if split == "train":  # the raw noise at a fixed level, for on-the-fly mixing
        save(out / "noise" / f"{utt}.wav", torch.from_numpy(noise) * 0.05, sr)
    return {"utt": utt, "split": split, "index": index, "spk": speaker, "text": text, "snr": snr, "noise": kind,
            "dur": clean.numel() / sr}


def _split_sentences(sentences: list[str], seed: int) -> dict[str, list[str]]:
    """Disjoint sentence pools (80/10/10), so dev/test texts are unseen in training."""
    order = np.random.default_rng([seed, 99]).permutation(len(sentences))
    n_dev = n_test = max(1, len(sentences) // 10)
    pick = lambda idx: [sentences[i] for i in sorted(idx)]  # noqa: E731
    return {"dev": pick(order[:n_dev]), "test": pick(order[n_dev:n_dev + n_test]),
            "train": pick(order[n_dev + n_test:])}


def _tasks(out_dir: Path, counts: dict[str, int], sample_rate: int, seed: int, snr_range, min_dur, max_dur,
           single_voice: str | None = None) -> list:
    all_sentences = [s.strip() for s in SENTENCES.read_text(encoding="utf-8").splitlines() if s.strip()]
    pools = _split_sentences(all_sentences, seed)
    tasks = []
    for split, n in counts.items():
        spks = [("spk00", single_voice, 50)] if single_voice else SPEAKERS[split]
        for i in range(n):
            spk, voice, pitch = spks[i % len(spks)]
            tasks.append((split, i, spk, voice, pitch, str(out_dir), sample_rate, seed, pools[split], all_sentences,
                          tuple(snr_range), min_dur, max_dur))
    return tasks


def _run_shard(shard: int, tasks: list, rows_path: Path) -> None:
    """Worker process: synthesise and write every SHARDS-th task, then the rows as JSON."""
    rows = []
    with open(rows_path.with_suffix(".progress"), "wb", buffering=0) as tick:
        for t in tasks[shard::SHARDS]:
            rows.append(_job(t))
            tick.write(b".")
    with atomic_open(rows_path) as f:
        json.dump(rows, f)


def generate(out_dir: str | os.PathLike, *, sample_rate: int = 16000, seed: int = 0, n_train: int = 600,
             n_dev: int = 50, n_test: int = 50, jobs: int = 2, snr_range: tuple[float, float] = (-5.0, 15.0),
             min_dur: float = 1.5, max_dur: float = 4.0, progress: bool = True, voice: str | None = None) -> dict:
    """Write the corpus under ``out_dir``; return ``{set: number of utterances}``.

    libespeak-ng keeps state between calls in function-level statics (pitch-flutter
    index, wave phase), so an utterance's samples depend on everything the process
    synthesised before it. For identical bytes, the work is cut into a fixed number of
    shards, each run in a fresh interpreter (``jobs`` of them at a time) that processes
    its utterances in a fixed order; the output therefore does not depend on ``jobs``.
    """
    if not 0 < min_dur < max_dur:
        raise ValueError(f"need 0 < min_dur < max_dur, got {min_dur}, {max_dur}")
    if snr_range[0] > snr_range[1]:
        raise ValueError(f"snr_range must be (low, high), got {snr_range}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    counts = {"train": n_train, "dev": n_dev, "test": n_test}
    for name, n in counts.items():
        if n < 0:
            raise ValueError(f"--n-{name} must be >= 0, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = _tasks(out, counts, sample_rate, seed, snr_range, min_dur, max_dur, voice)
    work = Path(tempfile.mkdtemp(prefix=".shards.", dir=out))
    try:
        rows = _run_shards(out, work, counts, dict(sample_rate=sample_rate, seed=seed, snr_range=snr_range,
                                                   min_dur=min_dur, max_dur=max_dur, voice=voice),
                           len(tasks), jobs, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows.sort(key=lambda r: (SPLIT_INDEX[r["split"]], r["index"]))

    for split in counts:
        sel = [r for r in rows if r["split"] == split]
        if not sel:
            continue
        DataDir.write(
            out / split,
            wav_scp={r["utt"]: f"../wav/{split}/noisy/{r['utt']}.wav" for r in sel},
            spk1_scp={r["utt"]: f"../wav/{split}/clean/{r['utt']}.wav" for r in sel},
            text={r["utt"]: r["text"] for r in sel},
            utt2spk={r["utt"]: r["spk"] for r in sel},
            utt2dur={r["utt"]: f"{r['dur']:.4f}" for r in sel},
            utt2snr={r["utt"]: f"{r['snr']:.2f}" for r in sel},
            utt2noise={r["utt"]: r["noise"] for r in sel},
        )
    train = [r for r in rows if r["split"] == "train"]
    if train:
        DataDir.write(out / "noise", wav_scp={r["utt"]: f"../wav/train/noise/{r['utt']}.wav" for r in train})
    return {split: sum(r["split"] == split for r in rows) for split in counts}


def _run_shards(out: Path, work: Path, counts: dict, opts: dict, n_tasks: int, jobs: int, progress: bool) -> list:
    from tqdm import tqdm

    pending = list(range(SHARDS))
    running: dict[int, tuple[subprocess.Popen, object]] = {}
    rows: list[dict] = []
    bar = tqdm(total=n_tasks, desc="mini corpus", unit="utt", disable=not progress)
    while pending or running:
        while pending and len(running) < jobs:
            k = pending.pop(0)
            log = open(work / f"shard{k}.log", "w+")
            cmd = [sys.executable, str(Path(__file__).resolve()), str(out), "--_shard", str(k), "--_work", str(work),
                   "--sample-rate", str(opts["sample_rate"]), "--seed", str(opts["seed"]),
                   "--n-train", str(counts["train"]), "--n-dev", str(counts["dev"]), "--n-test", str(counts["test"]),
                   "--snr-range", *(str(v) for v in opts["snr_range"]),
                   "--min-dur", str(opts["min_dur"]), "--max-dur", str(opts["max_dur"])]
            if opts.get("voice"):
                cmd += ["--voice", opts["voice"]]
            running[k] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        time.sleep(0.2)
        for k, (proc, log) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[k]
            log.seek(0)
            text = log.read()
            log.close()
            if proc.returncode != 0:
                for p, lg in running.values():
                    p.kill()
                    lg.close()
                raise RuntimeError(f"mini corpus shard {k} failed (exit {proc.returncode}):\n{text[-3000:]}")
            rows += json.loads((work / f"shard{k}.json").read_text())
        # each worker appends one byte per finished utterance to its .progress file
        bar.update(sum(f.stat().st_size for f in work.glob("*.progress")) - bar.n)
    bar.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=600)
    p.add_argument("--n-dev", type=int, default=50)
    p.add_argument("--n-test", type=int, default=50)
    p.add_argument("--snr-range", type=float, nargs=2, default=(-5.0, 15.0), metavar=("LOW", "HIGH"))
    p.add_argument("--min-dur", type=float, default=1.5)
    p.add_argument("--max-dur", type=float, default=4.0)
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes at a time (the output does not depend on it)")
    p.add_argument("--voice", default=None,
                   help="one eSpeak voice (e.g. en-us+m1) for every split: a single-speaker corpus (TTS)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--_shard", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--_work", type=Path, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._shard is not None:  # internal: one worker process
        counts = {"train": a.n_train, "dev": a.n_dev, "test": a.n_test}
        tasks = _tasks(a.out_dir, counts, a.sample_rate, a.seed, tuple(a.snr_range), a.min_dur, a.max_dur, a.voice)
        _run_shard(a._shard, tasks, a._work / f"shard{a._shard}.json")
        return 0
    t0 = time.time()
    try:
        n = generate(a.out_dir, sample_rate=a.sample_rate, seed=a.seed, n_train=a.n_train, n_dev=a.n_dev,
                     n_test=a.n_test, jobs=a.jobs, snr_range=tuple(a.snr_range), min_dur=a.min_dur,
                     max_dur=a.max_dur, progress=not a.quiet, voice=a.voice)
    except ValueError as e:
        p.error(str(e))
    print(f"wrote {n} utterances to {a.out_dir} in {time.time() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
