#!/usr/bin/env python3
"""Vocoder inference speed: mel of 10 s of audio -> waveform, as "x real time", one table.

    python tools/bench/bench_vocoder.py --device cuda                 # GPU: fp32, bf16, bf16 as one CUDA graph
    python tools/bench/bench_vocoder.py --device cpu --threads 2      # 2 CPU cores (fp32)
    python tools/bench/bench_vocoder.py --modes fp32-ref,fp32,bf16-ref,bf16,bf16-cl --only turbo  # layouts A/B
    python tools/bench/bench_vocoder.py --modes bf16-graph,bf16-cl-graph,bf16-compile-graph    # CUDA graphs

Rows, all with random weights of the published configurations (weights do not change the
time): audiokit's HiFi-GAN V1, PeriodWave-Turbo-B at 2 and 4 Euler steps, PeriodWave-B at
16 midpoint steps, and the peers Vocos (mel 24 kHz config: ConvNeXt backbone dim 512 x 8,
ISTFT head) and BigVGAN-v2 (22 kHz 80-band 256x config, 112M parameters, PyTorch
anti-aliased activations: its optional CUDA kernel needs nvcc at run time). The peers come
from the PyPI packages ``vocos`` and ``bigvgan``, imported here only; a peer that does not
import is skipped with a note. Speed = audio seconds / processing seconds (median of
``--repeats`` runs after warm-up, GPU synchronised); the ratio column compares each row
with HiFi-GAN V1 in the same mode. "compile" is ``torch.compile`` of the network (for
PeriodWave the estimator, called once per ODE step); the mel encoder runs once per
utterance, not per step.

A mode is a dtype (fp32 | bf16) with optional flags joined by "-": ``ref`` runs PeriodWave
in its training layout (one U-Net call per period), ``packed`` in the packed inference
layout (all periods in one call, :class:`audiokit.vocoder.periodwave.PackedPeriods`);
neither: the model's default for the device (packed on GPU, training layout on CPU).
``cl`` keeps the packed activations time-major (channels-last convolutions), ``compile``
is ``torch.compile`` (default mode), ``graph`` captures the whole inference in one CUDA
graph and replays it (PeriodWave: :meth:`~audiokit.vocoder.periodwave.PeriodWave.graphed`,
prior, encoder and every ODE step; the others: the forward), with ``compile`` the compiled
code inside the graph; on a CPU ``graph`` runs eagerly. The flags other than
compile/graph apply to PeriodWave rows only.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from _timing import timed  # noqa: E402


def _conf(name):
    return yaml.safe_load((ROOT / "recipes/vocoder/conf/model" / f"{name}.yaml").read_text())




# ---- systems: name -> (build() -> (module, sample_rate, n_mels, hop), run(module, mel), nfe) --------
def _audiokit(cfg_name):
    def build():
        from audiokit.registry import build_model

        m = build_model(_conf(cfg_name))
        m.remove_weight_norm()
        s = m.mel_settings
        return m, s["sample_rate"], s["n_mels"], s["hop_length"]
    return build


def _vocos():
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    class Vocos(torch.nn.Module):  # charactr/vocos-mel-24khz config.yaml
        def __init__(self):
            super().__init__()
            self.backbone = VocosBackbone(input_channels=100, dim=512, intermediate_dim=1536, num_layers=8)
            self.head = ISTFTHead(dim=512, n_fft=1024, hop_length=256, padding="same")

        def forward(self, mel):
            x = self.backbone(mel)
            with torch.autocast(mel.device.type, enabled=False):  # iSTFT in fp32 (no bf16 complex)
                return self.head(x.float())
    return Vocos(), 24000, 100, 256


def _bigvgan():
    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    h = AttrDict(dict(  # nvidia/bigvgan_v2_22khz_80band_256x config.json (generator part)
        num_mels=80, upsample_rates=[4, 4, 2, 2, 2, 2], upsample_kernel_sizes=[8, 8, 4, 4, 4, 4],
        upsample_initial_channel=1536, resblock="1", resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]], activation="snakebeta",
        snake_logscale=True, use_tanh_at_final=False, use_bias_at_final=False))
    m = BigVGAN(h, use_cuda_kernel=False)
    m.remove_weight_norm()
    return m, 22050, 80, 256


def _pw_run(steps, method, temperature, freeu):
    def sampling(flags):
        packed = False if "ref" in flags else True if ("packed" in flags or "cl" in flags) else None
        return dict(steps=steps, method=method, temperature=temperature, freeu=freeu, packed=packed,
                    channels_last="cl" in flags)

    def run(m, mel, gen, flags=()):
        return m.generate(mel, generator=gen, **sampling(flags))

    def graphed(m, mel, dtype, flags):  # the whole generate() as one CUDA graph (eager on a CPU)
        g = m.graphed(mel.shape[0], mel.shape[-1], dtype, **sampling(flags))
        return lambda gen: g(mel, gen)
    run.layouts = True
    run.graphed = graphed
    return run


def _plain_run(m, mel, gen, flags=()):
    return m(mel)


def _plain_graphed(m, mel, dtype, flags):
    """``m(mel)`` captured as a CUDA graph after two warm-up calls (a plain call on a CPU)."""
    dev = mel.device.type
    ctx = lambda: torch.autocast(dev, dtype=dtype, enabled=dtype is not None, cache_enabled=False)  # noqa: E731
    if dev != "cuda":
        def call(gen):
            with ctx():
                return m(mel)
        return call
    static = mel.clone()
    with torch.inference_mode():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), ctx():
            for _ in range(2):
                m(static)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), ctx():
            out = m(static)

    def replay(gen):
        static.copy_(mel)
        graph.replay()
        return out
    return replay


_plain_run.graphed = _plain_graphed


# (row name, build key, run, network evaluations)
ROWS = [
    ("HiFi-GAN V1", "hifigan_v1", _plain_run, 1),
    ("PeriodWave-Turbo-B, 2 Euler steps", "periodwave_b", _pw_run(2, "euler", 1.0, False), 2),
    ("PeriodWave-Turbo-B, 4 Euler steps", "periodwave_b", _pw_run(4, "euler", 1.0, False), 4),
    ("PeriodWave-B, 16 midpoint steps", "periodwave_b", _pw_run(16, "midpoint", 0.667, True), 32),
    ("Vocos (mel 24 kHz)", "vocos", _plain_run, 1),
    ("BigVGAN-v2 22 kHz 80-band", "bigvgan", _plain_run, 1),
]
BUILDERS = {"hifigan_v1": _audiokit("hifigan_v1"), "periodwave_b": _audiokit("periodwave_b"),
            "vocos": _vocos, "bigvgan": _bigvgan}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=None, help="timed runs (default: 10 on GPU, 3 on CPU)")
    p.add_argument("--modes", default=None,
                   help="comma list of modes, dtype plus flags (see above), e.g. fp32,bf16-ref,bf16-cl-compile "
                        "(default: GPU fp32,bf16,bf16-graph; CPU fp32)")
    p.add_argument("--only", default=None, help="comma list of row-name substrings to run (case-insensitive)")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    p.add_argument("--results", type=Path, default=None,
                   help="JSON list of rows to extend (created if absent): runs with different --modes/--only "
                        "(e.g. eager, then compiled under their own time cap) end in one table")
    p.add_argument("--render-only", action="store_true", help="print the tables of --results and exit")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = a.device
    cuda = dev.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    modes = (a.modes or ("fp32,bf16,bf16-graph" if cuda else "fp32")).split(",")
    repeats = a.repeats or (10 if cuda else 3)
    hw = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"# vocoder speed, {a.seconds:g} s of audio, batch 1, on {hw}, torch {torch.__version__}", flush=True)
    rows = [r for r in ROWS if not a.only or any(s.lower() in r[0].lower() for s in a.only.split(","))]
    if a.render_only:
        rows = []
    import json

    results, notes, models = [], [], {}
    if a.results and a.results.exists():
        saved = json.loads(a.results.read_text())
        results, notes = saved["rows"], saved["notes"]
    for name, key, run, nfe in rows:
        if key not in models:
            try:
                models[key] = BUILDERS[key]()
            except Exception as e:  # a peer package missing or broken: skip it, say why
                models[key] = e
        built = models[key]
        if isinstance(built, Exception):
            notes.append(f"{name}: skipped ({type(built).__name__}: {built})")
            print(f"  {name}: skipped ({built})", flush=True)
            continue
        model, sr, n_mels, hop = built
        model = model.to(dev).eval()
        frames = math.ceil(a.seconds * sr / hop)
        g = torch.Generator(device="cpu").manual_seed(0)
        mel = (torch.randn(1, n_mels, frames, generator=g) - 5.0).to(dev)  # log-mel-like level
        params = sum(q.numel() for q in model.parameters()) / 1e6
        for mode in modes:
            dtype_name, *flags = mode.split("-")
            if dtype_name not in ("fp32", "bf16") or set(flags) - {"ref", "packed", "cl", "compile", "graph"}:
                p.error(f"unknown mode {mode!r}")
            if set(flags) & {"ref", "packed", "cl"} and not getattr(run, "layouts", False):
                continue  # layout flags mean nothing for this row
            dtype = torch.bfloat16 if dtype_name == "bf16" else None
            net = _compiled(key, model) if "compile" in flags else model
            gen = torch.Generator(device=dev).manual_seed(0)

            def fn():
                with torch.inference_mode(), torch.autocast(dev.split(":")[0], dtype=dtype, enabled=dtype is not None):
                    return run(net, mel, gen, flags)
            try:
                t0 = time.perf_counter()
                if "graph" in flags:  # capture (after its own warm-up calls) is set-up time
                    replay = run.graphed(net, mel, dtype, flags)
                    fn = lambda: replay(gen)  # noqa: E731
                sec = timed(fn, dev, repeats, warmup=2 if cuda else 1)
                setup = time.perf_counter() - t0 - sec * repeats
            except Exception as e:  # e.g. compile unsupported here: report, go on
                notes.append(f"{name} [{mode}]: failed ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
                print(f"  {name} [{mode}]: failed ({e})", flush=True)
                continue
            xrt = a.seconds / sec
            results.append(dict(name=name, mode=mode, params=params, nfe=nfe, ms=sec * 1e3, xrt=xrt))
            print(f"  {name} [{mode}]: {sec * 1e3:.1f} ms, {xrt:.1f}x real time (warm-up {setup:.1f} s)", flush=True)
            if a.out:  # rewritten after every row: a run cut short keeps what it measured
                a.out.write_text(render(results, notes, hw, a.seconds) + "\n")
            if a.results:
                a.results.write_text(json.dumps({"rows": results, "notes": notes}, indent=1))
    table = render(results, notes, hw, a.seconds) + "\n\n" + render_grid(results)
    print("\n" + table)
    if a.out:
        a.out.write_text(table + "\n")
    return 0


_COMPILED: dict = {}


def _compiled(key, model):
    """torch.compile (default mode: fused Triton kernels, no CUDA graphs of its own; the
    "graph" flag captures the compiled code in our graph)."""
    if key not in _COMPILED:
        if key == "periodwave_b":
            # The per-step estimators only (encode(), the packed layout and the embeddings run
            # once per utterance), on a shallow copy sharing the weights so the eager rows stay eager.
            import copy

            m = copy.copy(model)
            m.vector_field = torch.compile(model.vector_field, dynamic=False)
            m.estimate_packed = torch.compile(model.estimate_packed, dynamic=False)
            _COMPILED[key] = m
        else:
            _COMPILED[key] = torch.compile(model, dynamic=False)
    return _COMPILED[key]


def render_grid(results):
    """x real time, one row per vocoder and one column per mode (modes in the order first measured)."""
    modes = list(dict.fromkeys(r["mode"] for r in results))
    names = list(dict.fromkeys(r["name"] for r in results))
    val = {(r["name"], r["mode"]): r["xrt"] for r in results}
    lines = ["| x real time | " + " | ".join(modes) + " |", "| --- |" + " ---: |" * len(modes)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{val[n, m]:.{1 if val[n, m] >= 10 else 2}f}" if (n, m) in val else "" for m in modes) + " |")
    return "\n".join(lines)


def render(results, notes, hw, seconds):
    def plain(mode):  # HiFi-GAN's mode for a PeriodWave layout mode: dtype and compile flags only
        return "-".join(f for f in mode.split("-") if f not in ("ref", "packed", "cl"))

    base = {r["mode"]: r["xrt"] for r in results if r["name"] == "HiFi-GAN V1"}
    lines = [f"Vocoder speed on {hw}: {seconds:g} s of audio, batch 1 (x real time = audio s / compute s).", "",
             "| vocoder | params (M) | network evals | mode | ms | x real time | vs HiFi-GAN V1 |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in results:
        ratio = f"{r['xrt'] / base[plain(r['mode'])]:.2f}" if plain(r["mode"]) in base else "-"
        lines.append(f"| {r['name']} | {r['params']:.1f} | {r['nfe']} | {r['mode']} | {r['ms']:.1f} | "
                     f"{r['xrt']:.1f} | {ratio} |")
    for n in notes:
        lines.append(f"\nNote: {n}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
