"""``audiokit adapt``: adapt a trained Lina-style model to a new voice by initial-state tuning.

Initial-state tuning (Lina-Speech, Lemerle et al. 2024, Sec. 3.3; after RWKV's state tuning):
every weight of the trained model stays frozen; each GLA layer of its audio stacks starts from
a learned state S0 = 0.02 sum_r k_r (x) v_r (rank 1 by default) instead of zeros, trained with
Adam at lr 0.1 on the teacher-forced loss over a few minutes of the new speaker. The result is
kilobytes: ``initial_state.safetensors`` (k [L, R, H, K], v [L, R, H, V]) beside
``adapted.yaml``, which names the base model directory (relative to the adapted directory,
and absolute as a fallback) and the SHA-256 of its weights, so states are never installed on
weights they were not tuned for. :func:`load_adapted` rebuilds the model with the states
installed; :func:`load_tts_model` takes either kind of directory.

Data: a data directory with ``wav.scp`` and ``text``. This module carries a minimal loader
(front-end -> symbol ids, log-mel with the model's mel preset); utterances that fail are
reported and skipped.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from pathlib import Path

import torch
import yaml

from audiokit.fsutil import atomic_open, atomic_path

ADAPTED_FILE = "adapted.yaml"
STATE_FILE = "initial_state.safetensors"


class AdaptError(ValueError):
    """Bad input to adaptation (model kind, data, adapted directory)."""


# ---------------------------------------------------------------------------- data
def frontend_config(model_cfg: dict) -> dict:
    """The text front-end a model was trained with, from its config.yaml (``frontend`` at the top
    or under ``data``); eSpeak NG en-us when the config does not say."""
    for where in (model_cfg, model_cfg.get("data") or {}, model_cfg.get("model") or {}):
        fe = where.get("frontend") if isinstance(where, dict) else None
        if isinstance(fe, dict) and fe.get("type"):
            return dict(fe)
    return {"type": "espeak", "language": "en-us"}


def load_examples(data_dir, model, frontend, max_frames: int | None = None):
    """-> (examples [(utt, tokens LongTensor [T], log-mel [n_mels, F])], failures {utt: reason})."""
    from audiokit import audio
    from audiokit.datadir import DataDir, read_table
    from audiokit.frontend.mel import MelSpectrogram

    dd = DataDir(data_dir)
    if not dd.has("text"):
        raise AdaptError(f"{data_dir}: no 'text' table; adaptation needs transcripts beside wav.scp")
    if model.symbols is None:
        raise AdaptError("the model has no symbol table in its config; cannot encode text")
    if "sample_rate" not in model.mel_settings:
        raise AdaptError("the model has no mel preset in its config; cannot compute its mel features")
    wavs, texts = dd.audio("wav.scp"), read_table(Path(data_dir) / "text")
    mel_fn = MelSpectrogram(**model.mel_settings)
    sr = model.mel_settings["sample_rate"]
    examples, failures = [], {}
    for utt in sorted(wavs):
        if utt not in texts:
            failures[utt] = "no transcript in text"
            continue
        try:
            ids = model.symbols.encode(frontend.tokens(texts[utt]))
            wav, _ = audio.load(wavs[utt], sr=sr)
            mel = mel_fn(wav[None].float())[0]
        except (ValueError, OSError) as e:
            failures[utt] = str(e)
            continue
        if max_frames is not None and mel.shape[-1] > max_frames:
            failures[utt] = f"{mel.shape[-1]} frames > --max-frames {max_frames}"
            continue
        examples.append((utt, torch.tensor(ids, dtype=torch.long), mel))
    if not examples:
        raise AdaptError(f"{data_dir}: no usable utterance ({len(failures)} failed)")
    return examples, failures


def collate(items):
    """[(utt, tokens [T], mel [n_mels, F])] -> tokens [B, T], token_lengths, mel [B, n_mels, F], mel_lengths."""
    tl = torch.tensor([t.numel() for _, t, _ in items])
    ml = torch.tensor([m.shape[-1] for _, _, m in items])
    tokens = torch.zeros(len(items), int(tl.max()), dtype=torch.long)
    mel = torch.zeros(len(items), items[0][2].shape[0], int(ml.max()))
    for i, (_, t, m) in enumerate(items):
        tokens[i, : t.numel()], mel[i, :, : m.shape[-1]] = t, m
    return tokens, tl, mel, ml


# ---------------------------------------------------------------------------- tuning
def adapt(model, examples, steps: int = 200, rank: int = 1, scale: float = 0.02, lr: float = 0.1,
          batch_size: int = 4, seed: int = 0, progress: bool = True):
    """Learn initial states on ``examples``; only the states change. Returns (InitialState, losses).

    The model runs in training mode (dropout on, as the public code tunes) with its batch-norm
    layers in eval mode, so no buffer of the frozen model moves either.
    """
    from tqdm import tqdm

    if not hasattr(model, "new_initial_state"):
        raise AdaptError(f"initial-state tuning needs a recurrent model (lina); got {type(model).__name__}")
    if steps < 1 or batch_size < 1 or rank < 1 or not lr > 0:
        raise AdaptError(f"steps, batch_size, rank must be >= 1 and lr > 0; got {steps}, {batch_size}, {rank}, {lr}")
    for p in model.parameters():
        p.requires_grad_(False)
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    state = model.new_initial_state(rank, scale)
    model.set_initial_state(state)
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    opt = torch.optim.Adam(state.parameters(), lr=lr)
    rng = random.Random(seed)
    order: list[int] = []
    losses = []
    bar = tqdm(range(steps), desc="adapt", disable=not progress, file=sys.stderr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=g)))
        for _ in bar:
            if len(order) < batch_size:             # epochs without replacement
                perm = list(range(len(examples)))
                rng.shuffle(perm)
                order += perm
            batch = [examples[i] for i in order[:batch_size]]
            del order[:batch_size]
            tokens, tl, mel, ml = (x.to(device) for x in collate(batch))
            loss = model(tokens, tl, mel, ml)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    model.eval()
    return state, losses


# ---------------------------------------------------------------------------- files
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_adapted(directory, state, base_model_dir, info: dict | None = None) -> Path:
    """Write ``initial_state.safetensors`` and ``adapted.yaml`` (atomically) into ``directory``."""
    from safetensors.torch import save_file

    out, base = Path(directory), Path(base_model_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / STATE_FILE) as tmp:
        save_file({"k": state.k.detach().cpu().contiguous(), "v": state.v.detach().cpu().contiguous()}, tmp)
    meta = {"base_model": os.path.relpath(base, out.resolve()), "base_model_abs": str(base),
            "base_weights_sha256": _sha256(base / "model.safetensors"),
            "rank": int(state.k.shape[1]), "scale": state.scale, **(info or {})}
    with atomic_open(out / ADAPTED_FILE) as f:
        yaml.safe_dump(meta, f, sort_keys=False)
    return out


def is_adapted(directory) -> bool:
    return (Path(directory) / ADAPTED_FILE).is_file()


def load_adapted(directory, map_location="cpu"):
    """Base model (via :func:`audiokit.registry.load_model`) with the tuned initial states installed, in eval mode."""
    from safetensors.torch import load_file

    from audiokit.registry import load_model

    directory = Path(directory)
    meta_path = directory / ADAPTED_FILE
    if not meta_path.is_file():
        raise AdaptError(f"{directory}: not an adapted model directory (no {ADAPTED_FILE}); create one with "
                         "`audiokit adapt --model DIR --data DATADIR -o DIR`")
    meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
    candidates = [directory / str(meta.get("base_model", "")), Path(str(meta.get("base_model_abs", "")))]
    base = next((c for c in candidates if (c / "config.yaml").is_file()), None)
    if base is None:
        raise AdaptError(f"{meta_path}: base model not found at {meta.get('base_model')!r} (relative to "
                         f"{directory}) nor {meta.get('base_model_abs')!r}")
    want = meta.get("base_weights_sha256")
    if want and _sha256(base / "model.safetensors") != want:
        raise AdaptError(f"{meta_path}: {base}/model.safetensors is not the model these states were tuned on "
                         "(SHA-256 differs); adapt again on the current weights")
    model = load_model(base, map_location=map_location)
    tensors = load_file(str(directory / STATE_FILE), device=str(map_location))
    rank = tensors["k"].shape[1]
    state = model.new_initial_state(rank, float(meta.get("scale", 0.02)))
    if state.k.shape != tensors["k"].shape or state.v.shape != tensors["v"].shape:
        raise AdaptError(f"{directory / STATE_FILE}: k {tuple(tensors['k'].shape)}, v {tuple(tensors['v'].shape)} "
                         f"do not fit the base model (k {tuple(state.k.shape)}, v {tuple(state.v.shape)})")
    state.load_state_dict(tensors)
    state.requires_grad_(False)
    model.set_initial_state(state)
    model.adapted = meta
    return model.eval()


def load_tts_model(directory, map_location="cpu"):
    """An acoustic model from a model directory or an adapted one."""
    from audiokit.registry import load_model

    return load_adapted(directory, map_location) if is_adapted(directory) else load_model(directory, map_location)


# ---------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="trained Lina-style model directory (config.yaml + model.safetensors)")
    p.add_argument("--data", required=True, help="data directory of the new voice (wav.scp + text)")
    p.add_argument("-o", "--out", required=True, help="output directory (initial states + adapted.yaml)")
    p.add_argument("--steps", type=int, default=200, help="optimiser steps (default 200)")
    p.add_argument("--rank", type=int, default=1, help="rank r of S0 = scale * sum_r k_r v_r^T (default 1)")
    p.add_argument("--lr", type=float, default=0.1, help="Adam learning rate (default 0.1, Lina-Speech)")
    p.add_argument("--scale", type=float, default=0.02, help="state scale (default 0.02)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-frames", type=int, default=None, help="skip utterances longer than this many frames")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu | cuda | auto (default)")


def run(args: argparse.Namespace) -> int:
    from audiokit.datadir import DataDirError
    from audiokit.registry import ModelDirError, load_model, read_config
    from audiokit.text.phonemize import build_frontend

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        model = load_model(args.model, map_location=device)
        if not hasattr(model, "new_initial_state"):
            raise AdaptError(f"{args.model}: {type(model).__name__} has no recurrent state to tune; "
                             "initial-state tuning needs a 'lina' model")
        frontend = build_frontend(frontend_config(read_config(args.model)))
        examples, failures = load_examples(args.data, model, frontend, args.max_frames)
        t0 = time.time()
        state, losses = adapt(model, examples, args.steps, args.rank, args.scale, args.lr, args.batch_size, args.seed)
    except (ModelDirError, DataDirError, ValueError) as e:
        print(f"audiokit adapt: {e}", file=sys.stderr)
        return 2
    n = max(1, min(10, len(losses) // 4))
    info = {"data": str(Path(args.data).resolve()), "utterances": len(examples), "steps": args.steps,
            "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed,
            "loss_first": float(sum(losses[:n]) / n), "loss_last": float(sum(losses[-n:]) / n),
            "seconds": round(time.time() - t0, 1)}
    out = save_adapted(args.out, state, args.model, info)
    size = (out / STATE_FILE).stat().st_size
    print(f"adapted {args.model} on {len(examples)} utterances in {args.steps} steps: loss "
          f"{info['loss_first']:.4f} -> {info['loss_last']:.4f}; wrote {out / STATE_FILE} ({size / 1024:.1f} KiB)",
          file=sys.stderr)
    if failures:
        print(f"{len(failures)} utterances skipped:", file=sys.stderr)
        for k, v in list(failures.items())[:10]:
            print(f"  {k}: {v}", file=sys.stderr)
    return 0
