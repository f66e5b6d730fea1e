"""Autoregressive TTS generation cost per output length: Lina (GLA, recurrent state) vs
Transformer-TTS (key/value cache).

    python tools/bench/bench_ar_tts.py [--devices cpu,cuda] [--seconds 1,10,60] [--out table.md]
        [--lina-config ljspeech] [--tt-config base] [--tokens 100] [--threads N]

Random weights (cost does not depend on them), batch 1, 100 text tokens, stop disabled so every
run generates exactly seconds x 22050 / 256 frames (86 per second). Each (device, model,
length) runs in a fresh subprocess so peak memory is its own. Columns:

* ms/frame: wall time of the whole generation (encoder, prefill, steps, post-net) / frames;
* last-10% ms/frame: the mean decoder step over the final tenth of the output (what a frame
  costs at that length; flat for Lina, growing for the KV cache);
* state MiB: bytes held by the decoder's cache at the end (GLA states + short-conv buffers +
  text keys for Lina; keys/values of every frame for Transformer-TTS, in buffers that double
  when full, so up to 2x the frames so far);
* peak MiB: CUDA ``max_memory_allocated`` during generation minus the memory before it; on CPU
  the process's peak resident set minus its resident set after the model was built.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

FRAMES_PER_SECOND = 22050 / 256


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _nbytes(c) -> int:
    if isinstance(c, torch.Tensor):
        return c.numel() * c.element_size()
    if isinstance(c, dict):
        return sum(_nbytes(v) for v in c.values())
    if isinstance(c, (list, tuple)):
        return sum(_nbytes(v) for v in c)
    return 0


def one(model_name: str, config: str, seconds: float, device: str, tokens: int) -> dict:
    """Generate once; return the measurements (run in its own process)."""
    from audiokit.tts.lina import CONFIGS as LINA
    from audiokit.tts.lina import LinaTTS
    from audiokit.tts.transformer_tts import CONFIGS as TT
    from audiokit.tts.transformer_tts import TransformerTTS

    torch.manual_seed(0)
    cls, cfgs = (LinaTTS, LINA) if model_name == "lina" else (TransformerTTS, TT)
    model = cls(vocab_size=100, **cfgs[config]).to(device).eval()
    params = sum(p.numel() for p in model.parameters())
    frames = int(round(seconds * FRAMES_PER_SECOND))
    text = torch.randint(1, 100, (1, tokens), device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    step_times: list[float] = []
    last_cache = [None]
    inner = model.step

    def timed_step(cache, x, t):
        sync()
        t0 = time.perf_counter()
        out = inner(cache, x, t)
        sync()
        step_times.append(time.perf_counter() - t0)
        last_cache[0] = out[1]
        return out

    model.step = timed_step
    model.synthesize(text, max_frames=8, use_stop=False)          # warm-up (kernels, allocator)
    step_times.clear()
    sync()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    mel, lengths = model.synthesize(text, max_frames=frames, max_len_ratio=1e9, use_stop=False)
    sync()
    wall = time.perf_counter() - t0
    if device.startswith("cuda"):
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    tail = step_times[-max(1, len(step_times) // 10):]
    return {"model": model_name, "config": config, "params_M": round(params / 1e6, 1), "device": device,
            "seconds": seconds, "frames": int(lengths[0]), "ms_per_frame": 1e3 * wall / int(lengths[0]),
            "tail_ms_per_frame": 1e3 * sum(tail) / len(tail), "state_MiB": _nbytes(last_cache[0]) / 2**20,
            "peak_MiB": peak}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seconds", default="1,10,60")
    p.add_argument("--models", default="lina,transformer_tts")
    p.add_argument("--lina-config", default="ljspeech")
    p.add_argument("--tt-config", default="base")
    p.add_argument("--tokens", type=int, default=100)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", default=None, help="also write the table (markdown) here")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)   # model:config:seconds:device (worker)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one:
        m, c, s, d = args.one.split(":", 3)
        print(json.dumps(one(m, c, float(s), d, args.tokens)))
        return 0
    rows = []
    for device in args.devices.split(","):
        for seconds in (float(s) for s in args.seconds.split(",")):
            for m in args.models.split(","):
                cfg = args.lina_config if m == "lina" else args.tt_config
                cmd = [sys.executable, __file__, "--one", f"{m}:{cfg}:{seconds}:{device}", "--tokens", str(args.tokens)]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode:
                    print(f"{m} {device} {seconds}s failed:\n{res.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"{device} {m}({cfg}) {seconds:g}s: {r['ms_per_frame']:.2f} ms/frame", file=sys.stderr)
    dev_name = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU x{torch.get_num_threads()}"
    lines = [f"Autoregressive generation, batch 1, {args.tokens} tokens, fp32 ({dev_name})", "",
             "| device | model | params (M) | output (s) | frames | ms/frame | last-10% ms/frame | state MiB | peak MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['model']} ({r['config']}) | {r['params_M']} | {r['seconds']:g} | {r['frames']} | "
                     f"{r['ms_per_frame']:.2f} | {r['tail_ms_per_frame']:.2f} | {r['state_MiB']:.2f} | {r['peak_MiB']:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
