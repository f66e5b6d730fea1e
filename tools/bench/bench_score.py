#!/usr/bin/env python
"""Benchmark ``audiokit score``: per-utterance cost of each metric, and the wall time of
a whole scoring run over ``--jobs`` worker processes.

It builds N noisy utterances of ``--seconds`` each at 16 kHz: crops of the real speech in
``../shared/data/speechbrain_samples`` mixed with its real noise recordings at 0..15 dB
SNR (a harmonic, speech-like synthetic signal replaces them when that folder is absent),
written as 16-bit WAVs in a temporary Kaldi data directory, then prints two markdown
tables. Default: the VoiceBank+DEMAND test size, 824 three-second utterances.

    .venv/bin/python tools/bench/bench_score.py --n 824 --jobs 1,2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from audiokit.datadir import DataDir  # noqa: E402
from audiokit.metrics import METRICS, parse_metrics  # noqa: E402
from audiokit.metrics.score import score, score_pair  # noqa: E402

SR = 16000


def _sources(shared: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(speech, noise) as long 16 kHz streams."""
    speech_dir, noise_dir = shared / "speechbrain_samples/speech", shared / "speechbrain_samples/noise"
    speech = [sf.read(str(p), dtype="float32")[0] for p in sorted(speech_dir.glob("*.wav"))
              if sf.info(str(p)).samplerate == SR] if speech_dir.is_dir() else []
    noise = [sf.read(str(p), dtype="float32")[0] for p in sorted(noise_dir.glob("*.wav"))
             if sf.info(str(p)).samplerate == SR] if noise_dir.is_dir() else []
    if speech and noise:
        return np.concatenate(speech), np.concatenate(noise)
    # Fallback: a 120 Hz glottal-like pulse train with a moving formant, syllable-rate AM.
    t = np.arange(60 * SR) / SR
    phase = 2 * np.pi * np.cumsum(110 + 30 * np.sin(2 * np.pi * 0.7 * t)) / SR
    src = sum(np.sin(k * phase) / k for k in range(1, 30)) * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.1 * src).astype(np.float32), rng.standard_normal(t.size).astype(np.float32)


def build(root: Path, n: int, seconds: float, shared: Path, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    speech, noise = _sources(shared, rng)
    length = int(seconds * SR)
    wav = root / "wav"
    wav.mkdir(parents=True, exist_ok=True)
    ref, est = {}, {}
    level = np.sqrt(np.mean(speech**2))
    pad = int(0.2 * SR)  # real utterances start and end in a pause; PESQ's VAD needs one
    for i in range(n):
        while True:  # skip crops that are mostly pauses
            s0 = rng.integers(0, speech.size - length + 2 * pad)
            x = speech[s0: s0 + length - 2 * pad]
            if np.sqrt(np.mean(x**2)) > 0.5 * level:
                break
        fade = np.minimum(1.0, np.minimum(np.arange(x.size), np.arange(x.size)[::-1]) / 160)  # 10 ms ramps
        x = np.pad(x * fade, pad)
        n0 = rng.integers(0, noise.size - length)
        v = noise[n0: n0 + length]
        snr = rng.uniform(0, 15)
        y = x + v * np.sqrt(np.mean(x**2) / (np.mean(v**2) + 1e-12) / 10 ** (snr / 10))
        peak = max(1.0, float(np.abs(y).max()) / 0.99)
        utt = f"bench{i:04d}"
        sf.write(str(wav / f"{utt}_clean.wav"), x / peak, SR, subtype="PCM_16")
        sf.write(str(wav / f"{utt}_noisy.wav"), y / peak, SR, subtype="PCM_16")
        ref[utt], est[utt] = f"../wav/{utt}_clean.wav", f"../wav/{utt}_noisy.wav"
    DataDir.write(root / "ref", spk1_scp=ref)
    DataDir.write(root / "est", wav_scp=est)
    return root / "ref", root / "est"


def per_metric_cost(root: Path, n: int) -> list[tuple[str, float, float]]:
    """``(name, wall s, CPU s)`` per utterance; CPU time is robust to other load on the machine."""
    pairs = [(sf.read(str(root / "wav" / f"bench{i:04d}_clean.wav"), dtype="float64")[0],
              sf.read(str(root / "wav" / f"bench{i:04d}_noisy.wav"), dtype="float64")[0]) for i in range(n)]
    score_pair(*pairs[0], SR, list(METRICS), errors="nan")  # warm-up: imports, caches
    rows = []

    def timed(label, fn):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            fn(i)
        rows.append((label, (time.perf_counter() - w0) / n, (time.process_time() - c0) / n))

    timed("load (both files)", lambda i: [sf.read(str(root / "wav" / f"bench{i:04d}_{k}.wav")) for k in ("clean", "noisy")])
    for name in METRICS:
        timed(name, lambda i: score_pair(*pairs[i], SR, [name], errors="nan"))
    timed("all 10 (composites share PESQ)", lambda i: score_pair(*pairs[i], SR, list(METRICS), errors="nan"))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=824, help="utterances (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each (default: %(default)s)")
    p.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to time (default: %(default)s)")
    p.add_argument("--metrics", default="pesq_wb,stoi,si_sdr", help="metrics of the timed runs (default: %(default)s)")
    p.add_argument("--per-metric-n", type=int, default=30, help="utterances for the per-metric table (0: skip)")
    p.add_argument("--shared", type=Path, default=REPO / "../shared/data", help="shared data folder")
    args = p.parse_args()
    metrics = parse_metrics(args.metrics)
    jobs = [int(j) for j in args.jobs.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench_score_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        ref, est = build(root, args.n, args.seconds, args.shared)
        print(f"built {args.n} x {args.seconds:g} s utterances in {time.perf_counter() - t0:.1f} s; "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.processor() or platform.machine()}\n")

        if args.per_metric_n:
            print(f"Per-utterance cost, one process, {args.seconds:g} s utterances (mean of {args.per_metric_n}):\n")
            print("| metric | wall ms / utt | CPU ms / utt |\n| --- | ---: | ---: |")
            for name, wall, cpu in per_metric_cost(root, min(args.per_metric_n, args.n)):
                print(f"| {name} | {1000 * wall:.1f} | {1000 * cpu:.1f} |")
            print()

        print(f"`score()` over {args.n} utterances, metrics {','.join(metrics)} (wall clock, incl. worker start):\n")
        print("| jobs | wall s | utt / s | ms / utt | speed-up | load avg before |\n"
              "| ---: | ---: | ---: | ---: | ---: | ---: |")
        base = None
        for j in jobs:
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            summary = score(ref, est, root / f"out{j}", metrics=metrics, jobs=j, progress=False)
            wall = time.perf_counter() - t0
            base = base or wall
            failed = sum(s["n_failed"] for s in summary.values())
            note = f" ({failed} failed)" if failed else ""
            print(f"| {j} | {wall:.1f} | {args.n / wall:.1f} | {1000 * wall / args.n:.1f} | {base / wall:.2f}x{note} | {load:.1f} |")
        means = ", ".join(f"{k} {v['mean']:.3f}" for k, v in summary.items())
        print(f"\nmeans: {means}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
