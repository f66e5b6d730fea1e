#!/usr/bin/env python3
"""Enhancement inference speed: real-time factor and peak memory, printed as one table.

    python tools/bench/bench_enhance.py --device cuda --bf16          # H100
    python tools/bench/bench_enhance.py --device cpu --threads 2      # 2 CPU cores

Speed is reported as "x real time" (audio seconds per processing second). Without
``--model`` the published configuration is built with random weights, which time the same
as trained ones. Rows: a 10 s clip in one pass, and a long file through the chunked
runner (``audiokit enhance``'s default 10 s chunks, 1 s overlap) for peak memory.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]


def build(args):
    from audiokit.registry import build_model, load_model

    if args.model:
        return load_model(args.model, map_location=args.device)
    cfg = yaml.safe_load((ROOT / "recipes/enh/conf/model" / f"{args.config}.yaml").read_text())
    return build_model(cfg).to(args.device).eval()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    fn()  # warm-up (cuDNN autotune, allocator)
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="trained model directory (default: random weights of --config)")
    p.add_argument("--config", default="mpsenet", help="model config under recipes/enh/conf/model")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--long-minutes", type=float, nargs="*", default=[10.0],
                   help="lengths for the chunked long-file rows (peak memory)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    from audiokit.infer.enhance import enhance_waveform

    model = build(a)
    sr = model.sample_rate
    params = sum(p.numel() for p in model.parameters()) / 1e6
    dev = a.device
    name = torch.cuda.get_device_name() if dev.startswith("cuda") else f"CPU x{torch.get_num_threads()} threads"
    print(f"# model {a.model or a.config} ({params:.2f}M params) on {name}, torch {torch.__version__}")
    rows = []
    precisions = [("fp32", None)] + ([("bf16", torch.bfloat16)] if a.bf16 else [])
    g = torch.Generator().manual_seed(0)
    for prec, dtype in precisions:
        x = torch.randn(int(a.seconds * sr), generator=g) * 0.1
        run = lambda: enhance_waveform(model, x, sr, chunk_seconds=None, device=dev, amp_dtype=dtype)  # noqa: E731
        if dev.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        t = timed(run, dev, a.repeats)
        mem = torch.cuda.max_memory_allocated() / 2**30 if dev.startswith("cuda") else float("nan")
        rows.append((prec, f"{a.seconds:g} s", "one pass", t, a.seconds / t, mem))
        for minutes in a.long_minutes:
            x_long = torch.randn(int(minutes * 60 * sr), generator=g) * 0.1
            if dev.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            enhance_waveform(model, x_long, sr, chunk_seconds=10.0, overlap_seconds=1.0, device=dev, amp_dtype=dtype)
            sync(dev)
            t = time.perf_counter() - t0
            mem = torch.cuda.max_memory_allocated() / 2**30 if dev.startswith("cuda") else float("nan")
            rows.append((prec, f"{minutes:g} min", "chunked 10 s", t, minutes * 60 / t, mem))
    print("| precision | input | mode | seconds | x real time | peak GPU memory (GiB) |")
    print("|---|---|---|---|---|---|")
    for prec, inp, mode, t, rtf, mem in rows:
        print(f"| {prec} | {inp} | {mode} | {t:.3f} | {rtf:.1f} | {mem:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
