#!/usr/bin/env python3
"""Enhancement speed: real-time factor and peak memory, long-form modes, training steps/s.

    python tools/bench/bench_enhance.py --device cuda --bf16          # H100
    python tools/bench/bench_enhance.py --device cpu --threads 2      # 2 CPU cores
    # MambAttention with linear time attention: long-form table in both modes, and training
    # steps/s with the Triton selective scan vs the chunked PyTorch path
    python tools/bench/bench_enhance.py --config mambattention --set time_attention=linear \\
        --device cuda --bf16 --long-minutes 1 10 60 --modes one-pass chunked --train-steps 30

Speed is reported as "x real time" (audio seconds per processing second). Without
``--model`` the configuration is built with random weights, which time the same as trained
ones. Tables:

1. inference: a ``--seconds`` clip in one pass (median of ``--repeats``), then each
   ``--long-minutes`` length in each of ``--modes``: ``one-pass`` (the whole recording in one
   forward pass, as ``audiokit enhance --one-pass``; MambAttention runs its exact tiled forward)
   and ``chunked`` (10 s chunks, 1 s overlap, ``audiokit enhance``'s default). A run that does not
   fit in GPU memory is a row saying so, and the table goes on.
2. training (``--train-steps N``): generator steps/s on ``--batch-size`` x ``--segment`` s crops
   (forward, losses without the PESQ-driven metric term, backward, AdamW; bf16 autocast on GPU),
   once per selective-scan backend: ``triton`` (the kernel on CUDA) and ``torch`` (the chunked
   PyTorch path, forced with AUDIOKIT_KERNELS_BACKEND=torch).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from _timing import sync, timed  # noqa: E402


def model_config(args) -> dict:
    cfg = yaml.safe_load((ROOT / "recipes/enh/conf/model" / f"{args.config}.yaml").read_text())
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in cfg:
            raise SystemExit(f"--set {item}: expected KEY=VALUE with KEY one of {', '.join(cfg)}")
        cfg[key] = yaml.safe_load(value)
    return cfg


def build(args):
    from audiokit.registry import build_model, load_model

    if args.model:
        return load_model(args.model, map_location=args.device)
    return build_model(model_config(args)).to(args.device).eval()



def reset_peak(device):
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device):
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")



def inference_rows(model, a):
    from audiokit.infer.enhance import enhance_waveform

    sr, dev = model.sample_rate, a.device
    g = torch.Generator().manual_seed(0)
    # rows are printed as they come: a capped run keeps what it measured
    print("| precision | input | mode | seconds | x real time | peak GPU memory (GiB) |")
    print("|---|---|---|---|---|---|", flush=True)

    def row(prec, inp, mode, t, rtf, mem):
        mem_s = "out of memory" if mem == float("inf") else f"{mem:.2f}"
        print(f"| {prec} | {inp} | {mode} | {t:.3f} | {rtf:.1f} | {mem_s} |", flush=True)

    for prec, dtype in ([("bf16", torch.bfloat16)] if a.bf16 else []) + [("fp32", None)]:  # headline first
        x = torch.randn(int(a.seconds * sr), generator=g) * 0.1
        reset_peak(dev)
        t = timed(lambda: enhance_waveform(model, x, sr, chunk_seconds=None, device=dev, amp_dtype=dtype),
                  dev, a.repeats)
        row(prec, f"{a.seconds:g} s", "one pass", t, a.seconds / t, peak_gib(dev))
        for minutes in a.long_minutes:
            x_long = torch.randn(int(minutes * 60 * sr), generator=g) * 0.1
            for mode in a.modes:
                chunk = None if mode == "one-pass" else 10.0
                label = "one pass" if chunk is None else "chunked 10 s"
                reset_peak(dev)
                t0 = time.perf_counter()
                try:
                    enhance_waveform(model, x_long, sr, chunk_seconds=chunk, overlap_seconds=1.0, device=dev,
                                     amp_dtype=dtype)
                    sync(dev)
                except torch.OutOfMemoryError:
                    row(prec, f"{minutes:g} min", label, float("nan"), float("nan"), float("inf"))
                    torch.cuda.empty_cache()
                    continue
                t = time.perf_counter() - t0
                row(prec, f"{minutes:g} min", label, t, minutes * 60 / t, peak_gib(dev))


def training_rows(a):
    from audiokit.enh.task import EnhancementTask

    dev = a.device
    cfg = dict(yaml.safe_load(Path(a.model, "config.yaml").read_text())["model"]) if a.model else model_config(a)
    weights = yaml.safe_load((ROOT / "recipes/enh/conf/loss" / f"{a.loss}.yaml").read_text())
    weights["metric"] = 0.0            # the PESQ workers would time the CPU, not the model
    amp = torch.bfloat16 if dev.startswith("cuda") and a.bf16 else None
    print(f"\ntraining: batch {a.batch_size} x {a.segment:g} s, {'bf16 autocast' if amp else 'fp32'}, "
          f"metric loss off, mean of {a.train_steps} steps after one warm-up")
    print("| selective scan | steps/s | s/step | peak GPU memory (GiB) |")
    print("|---|---|---|---|", flush=True)
    for backend in ("triton", "torch") if dev.startswith("cuda") else ("torch",):
        os.environ["AUDIOKIT_KERNELS_BACKEND"] = "" if backend == "triton" else "torch"
        torch.manual_seed(0)
        task = EnhancementTask(cfg, loss=weights, pesq_workers=1).to(torch.device(dev))
        opt = torch.optim.AdamW(task.generator.parameters(), 5e-4, betas=(0.8, 0.99))
        n = int(a.segment * task.sample_rate)
        clean = torch.randn(a.batch_size, n, device=dev) * 0.1
        batch = {"clean": clean, "noisy": clean + torch.randn_like(clean) * 0.05,
                 "lengths": torch.full((a.batch_size,), n)}

        def update(name, loss):
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return True

        def step():
            with torch.autocast(torch.device(dev).type, dtype=amp or torch.float32, enabled=amp is not None):
                task.train_step(batch, update)

        try:
            step()
            sync(dev)
            reset_peak(dev)
            t0 = time.perf_counter()
            for _ in range(a.train_steps):
                step()
            sync(dev)
        except torch.OutOfMemoryError:  # the PyTorch path keeps every step's state for autograd
            print(f"| {backend} | out of memory | | > {torch.cuda.get_device_properties(dev).total_memory / 2**30:.0f} |",
                  flush=True)
            del task, opt, batch
            torch.cuda.empty_cache()
            continue
        finally:
            os.environ.pop("AUDIOKIT_KERNELS_BACKEND", None)
        t = (time.perf_counter() - t0) / a.train_steps
        print(f"| {backend} | {1 / t:.2f} | {t:.3f} | {peak_gib(dev):.2f} |", flush=True)
        task.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="trained model directory (default: random weights of --config)")
    p.add_argument("--config", default="mpsenet", help="model config under recipes/enh/conf/model")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override values of --config, e.g. time_attention=linear")
    p.add_argument("--loss", default="mambattention", help="loss weights under recipes/enh/conf/loss")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast (and train in it)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--long-minutes", type=float, nargs="*", default=[10.0], help="lengths of the long-form rows")
    p.add_argument("--modes", nargs="+", default=["chunked"], choices=["one-pass", "chunked"],
                   help="long-form modes")
    p.add_argument("--max-elements", type=int, default=None,
                   help="MambAttention: per-group budget of the backbone in the tiled one-pass forward")
    p.add_argument("--train-steps", type=int, default=0, help="time this many training steps per scan backend")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--segment", type=float, default=2.0, help="training crop in seconds")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    model = build(a)
    if a.max_elements and hasattr(model, "max_elements"):
        model.max_elements = a.max_elements
    params = sum(p.numel() for p in model.parameters()) / 1e6
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"CPU x{torch.get_num_threads()} threads"
    linear = getattr(model, "linear_in_time", False)
    print(f"# model {a.model or a.config} {' '.join(a.set)} ({params:.2f}M params, "
          f"{'linear' if linear else 'quadratic'} in time) on {name}, torch {torch.__version__}")
    inference_rows(model, a)
    if a.train_steps:
        del model
        training_rows(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
