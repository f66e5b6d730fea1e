#!/usr/bin/env python3
"""TTS synthesis speed and long-paragraph memory, printed as markdown tables.

    python tools/bench/bench_tts.py --device cuda --out bench_tts.md        # GPU
    python tools/bench/bench_tts.py --device cpu --threads 2 --steps 2,10 --long 250,500,1000,2000

Models are built with random weights (they time the same as trained ones) from
recipes/tts/conf/model/<--config>.yaml with the encoder and decoder attention set to each of
``--kinds``; their duration predictor is fixed to 7 frames per symbol (81 ms, about a
phoneme's length), so every system renders the same number of frames.

1. **Real-time factor** of text -> waveform for ``--seconds`` of speech (one utterance):
   acoustic model (encoder, durations, ``--steps`` Euler steps of the flow-matching decoder)
   plus the vocoder (``--vocoder``: a config under recipes/vocoder/conf/model, default the
   published HiFi-GAN V1, or a trained model directory), reported as "x real time" (audio
   seconds per second of processing). Beside them, where the PyPI package ``matcha-tts`` is
   importable, its own model at the published LJSpeech size (random weights, same durations,
   same vocoder) in the same run.
2. **One-pass long paragraph**: the acoustic model alone on ``--long`` symbols in a single
   forward pass (no chunking), time and peak memory, for ``--long-kinds``: GPU peak from
   ``torch.cuda.max_memory_allocated``; on CPU each row runs in a fresh process and reports its
   peak resident set size (includes the interpreter and the weights).
"""

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from _timing import sync, timed  # noqa: E402

FRAMES_PER_SYMBOL = 7
# Matcha-TTS LJSpeech hyper-parameters (the authors' configs/model/{encoder,decoder,cfm}/default.yaml).
MATCHA = dict(
    n_vocab=178, n_spks=1, spk_emb_dim=64, n_feats=80, out_size=None, prior_loss=True,
    data_statistics={"mel_mean": -5.536622, "mel_std": 2.116101},
    encoder={"encoder_type": "RoPE Encoder",
             "encoder_params": {"n_feats": 80, "n_channels": 192, "filter_channels": 768, "filter_channels_dp": 256,
                                "n_heads": 2, "n_layers": 6, "kernel_size": 3, "p_dropout": 0.1, "spk_emb_dim": 64,
                                "n_spks": 1, "prenet": True},
             "duration_predictor_params": {"filter_channels_dp": 256, "kernel_size": 3, "p_dropout": 0.1}},
    decoder={"channels": [256, 256], "dropout": 0.05, "attention_head_dim": 64, "n_blocks": 1, "num_mid_blocks": 2,
             "num_heads": 2, "act_fn": "snakebeta"},
    cfm={"name": "CFM", "solver": "euler", "sigma_min": 1e-4},
)




def build_tts(config: str, kind: str, device):
    from audiokit.registry import build_model

    cfg = yaml.safe_load((ROOT / "recipes/tts/conf/model" / f"{config}.yaml").read_text())
    if "defaults" in cfg:  # a mini variant: its base file plus its own values
        base = yaml.safe_load((ROOT / "recipes/tts/conf/model" / f"{cfg.pop('defaults')[0]}.yaml").read_text())
        cfg = {**base, **cfg}
    cfg["attention"] = kind
    if isinstance(cfg.get("cfm"), dict):
        cfg["cfm"] = {**cfg["cfm"], "attention": kind}
    from audiokit.text import SymbolTable

    cfg["symbols"] = SymbolTable.standard_ipa().to_dict()
    m = build_model(cfg)
    with torch.no_grad():  # fixed durations: the same frame count for every system
        m.duration.proj.weight.zero_()
        m.duration.proj.bias.fill_(math.log(FRAMES_PER_SYMBOL))
    return m.to(device).eval()


def build_vocoder(spec: str, device):
    from audiokit.registry import build_model, load_model

    if Path(spec).is_dir():
        voc = load_model(spec, map_location=device)
    else:
        voc = build_model(yaml.safe_load((ROOT / "recipes/vocoder/conf/model" / f"{spec}.yaml").read_text()))
    if hasattr(voc, "remove_weight_norm"):
        voc.remove_weight_norm()
    return voc.to(device).eval()


def vocode(voc, mel):
    return voc.generate(mel) if hasattr(voc, "generate") else voc(mel)


def build_matcha(device):
    """The matcha-tts package's MatchaTTS at its published size, or (None, reason)."""
    try:
        from omegaconf import OmegaConf

        from matcha.models.matcha_tts import MatchaTTS
    except Exception as e:  # noqa: BLE001 - any import failure means "not available here"
        return None, f"matcha-tts not importable ({type(e).__name__}: {e})"
    c = OmegaConf.create(MATCHA)
    m = MatchaTTS(n_vocab=c.n_vocab, n_spks=c.n_spks, spk_emb_dim=c.spk_emb_dim, n_feats=c.n_feats, encoder=c.encoder,
                  decoder=c.decoder, cfm=c.cfm, data_statistics=c.data_statistics, out_size=c.out_size,
                  prior_loss=c.prior_loss).to(device).eval()
    enc_forward = m.encoder.forward

    def fixed_durations(*a, **k):  # same frame count as ours: ceil(exp(log 7)) = 7
        mu, logw, mask = enc_forward(*a, **k)
        return mu, torch.full_like(logw, math.log(FRAMES_PER_SYMBOL)) * mask, mask

    m.encoder.forward = fixed_durations
    return m, None


def rtf_rows(args, device):
    voc = build_vocoder(args.vocoder, device)
    sr, hop = voc.mel_settings["sample_rate"], voc.mel_settings["hop_length"]
    n_sym = max(1, round(args.seconds * sr / hop / FRAMES_PER_SYMBOL))
    tokens = torch.randint(1, 150, (1, n_sym), device=device)
    audio_s = n_sym * FRAMES_PER_SYMBOL * hop / sr
    ac = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    rows = []
    mel0 = torch.zeros(1, voc.mel_settings["n_mels"], n_sym * FRAMES_PER_SYMBOL, device=device) - 5
    with torch.no_grad(), ac:
        t_voc = timed(lambda: vocode(voc, mel0), device, args.repeats)
    for kind in args.kinds:
        m = build_tts(args.config, kind, device)
        params = sum(p.numel() for p in m.parameters())
        for steps in args.steps:
            with torch.no_grad(), ac:
                t_ac = timed(lambda: m.synthesize(tokens, steps=steps), device, args.repeats)
            rows.append((f"audiokit {args.config} ({kind})", params, steps, t_ac, t_voc, audio_s))
        del m
    if not args.no_matcha:
        mt, why = build_matcha(device)
        if mt is None:
            print(f"note: {why}; the Matcha-TTS peer row is skipped", file=sys.stderr)
        else:
            params = sum(p.numel() for p in mt.parameters())
            x = torch.randint(1, 178, (1, n_sym), device=device)
            xl = torch.tensor([n_sym], device=device)
            for steps in args.steps:
                with torch.no_grad(), ac:
                    t_ac = timed(lambda: mt.synthesise(x, xl, n_timesteps=steps, temperature=0.667), device,
                                 args.repeats)
                rows.append(("matcha-tts (PyPI) LJSpeech size", params, steps, t_ac, t_voc, audio_s))
    return rows


def long_one(config, kind, n_sym, device_name, bf16, steps):
    """One long-paragraph pass; returns {"s": seconds, "mib": peak MiB, "frames": n}."""
    device = torch.device(device_name)
    m = build_tts(config, kind, device)
    tokens = torch.randint(1, 150, (1, n_sym), device=device)
    ac = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t = time.perf_counter()
    with torch.no_grad(), ac:
        mel, lengths = m.synthesize(tokens, steps=steps)
    sync(device)
    s = time.perf_counter() - t
    if device.type == "cuda":
        mib = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    else:
        mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    audio = int(lengths[0]) * m.mel_settings["hop_length"] / m.mel_settings["sample_rate"]
    return {"s": s, "mib": mib, "frames": int(lengths[0]), "audio": audio}


def long_rows(args, device):
    rows = []
    for kind in args.long_kinds:
        for n in args.long:
            try:
                if device.type == "cuda":
                    # warm-up at the same length: a new length can mean new kernel specialisations (compiles)
                    long_one(args.config, kind, n, str(device), args.bf16, args.long_steps)
                    r = long_one(args.config, kind, n, str(device), args.bf16, args.long_steps)
                else:  # a fresh process per row: its peak RSS is this row's alone
                    cmd = [sys.executable, __file__, "--_long", json.dumps([args.config, kind, n, "cpu", args.bf16,
                                                                            args.long_steps]),
                           "--threads", str(args.threads or torch.get_num_threads())]
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    r = json.loads(out.stdout.strip().splitlines()[-1])
            except (torch.cuda.OutOfMemoryError, subprocess.CalledProcessError, RuntimeError) as e:
                r = {"s": None, "mib": None, "frames": None, "error": str(e).splitlines()[-1][:80] if str(e) else "OOM"}
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            rows.append((kind, n, r))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--config", default="fastspeech_full", help="model config under recipes/tts/conf/model")
    p.add_argument("--kinds", default="softmax,linear,gla,wersa", help="attention kinds (encoder and decoder)")
    p.add_argument("--steps", default="2,4,10", help="flow-matching decoder steps")
    p.add_argument("--vocoder", default="hifigan_v1", help="vocoder config name or trained model directory")
    p.add_argument("--seconds", type=float, default=10.0, help="speech per utterance for the RTF rows")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--long", default="500,1000,2000,4000", help="symbol counts of the one-pass rows ('' to skip)")
    p.add_argument("--long-kinds", default="softmax,linear")
    p.add_argument("--long-steps", type=int, default=2)
    p.add_argument("--no-matcha", action="store_true", help="skip the matcha-tts peer")
    p.add_argument("--out", type=Path, default=None, help="also write the tables here")
    p.add_argument("--_long", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._long:
        print(json.dumps(long_one(*json.loads(args._long))))
        return 0
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.steps = [int(s) for s in args.steps.split(",") if s]
    args.long = [int(s) for s in args.long.split(",") if s]
    args.long_kinds = [k for k in args.long_kinds.split(",") if k]
    device = torch.device(args.device)
    torch.manual_seed(0)
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    lines = [f"Device: {dev}; torch {torch.__version__}; {'bf16 autocast' if args.bf16 else 'fp32'}; "
             f"{FRAMES_PER_SYMBOL} frames per symbol; vocoder {args.vocoder}.", ""]
    rows = rtf_rows(args, device)
    lines += ["| system | params | steps | acoustic ms | vocoder ms | x real time (acoustic) | x real time (total) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, params, steps, t_ac, t_voc, audio_s in rows:
        lines.append(f"| {name} | {params / 1e6:.2f}M | {steps} | {t_ac * 1e3:.1f} | {t_voc * 1e3:.1f} | "
                     f"{audio_s / t_ac:.1f} | {audio_s / (t_ac + t_voc):.1f} |")
    if args.long:
        lines += ["", f"One pass over a long paragraph (acoustic model, {args.long_steps} decoder steps; "
                  f"{'peak GPU memory above the weights' if device.type == 'cuda' else 'peak RSS of the process'}):", "",
                  "| attention | symbols | frames | audio s | seconds | peak MiB |", "|---|---:|---:|---:|---:|---:|"]
        for kind, n, r in long_rows(args, device):
            if r["s"] is None:
                lines.append(f"| {kind} | {n} | | | failed: {r['error']} | |")
            else:
                lines.append(f"| {kind} | {n} | {r['frames']} | {r['audio']:.0f} | {r['s']:.2f} | {r['mib']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
