"""Training checkpoints for exact resume, written atomically.

Layout inside an experiment directory::

    exp/<tag>/config.yaml, model.safetensors         best model (what --model points at)
    exp/<tag>/last/config.yaml, model.safetensors    latest model
    exp/<tag>/checkpoints/step_<N>/modules.safetensors, state.pt
    exp/<tag>/checkpoints/LATEST                      name of the newest complete checkpoint

Weights go to safetensors; optimizer/scheduler/scaler/RNG state to ``state.pt``, read back
with ``weights_only=True`` (no arbitrary unpickling). ``LATEST`` is replaced only after a
checkpoint is complete, so a kill mid-write leaves the previous one usable.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from audiokit.fsutil import atomic_open, atomic_path


def _unwrap(m: torch.nn.Module) -> torch.nn.Module:
    return m.module if hasattr(m, "module") and isinstance(m, torch.nn.parallel.DistributedDataParallel) else m


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    # The checkpoint is loaded with map_location=device: on a GPU the saved generator states
    # arrive as CUDA tensors, but the setters take CPU ByteTensors.
    torch.set_rng_state(state["torch"].cpu())
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(exp_dir: Path, step: int, modules: dict, optimizers: dict, schedulers: dict,
                    extra: dict, keep: int = 2) -> Path:
    root = Path(exp_dir) / "checkpoints"
    ckpt = root / f"step_{step}"
    ckpt.mkdir(parents=True, exist_ok=True)
    tensors = {f"{name}.{k}": v.detach().contiguous().cpu()
               for name, m in modules.items() for k, v in _unwrap(m).state_dict().items()}
    with atomic_path(ckpt / "modules.safetensors") as tmp:
        save_file(tensors, tmp)
    state = {
        "step": step,
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
        "rng": rng_state(),
        **extra,
    }
    with atomic_path(ckpt / "state.pt") as tmp:
        torch.save(state, tmp)
    with atomic_open(root / "LATEST") as f:
        f.write(ckpt.name + "\n")
    old = sorted((p for p in root.glob("step_*") if p != ckpt), key=lambda p: int(p.name.split("_")[1]))
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return ckpt


def latest_checkpoint(exp_dir: Path) -> Path | None:
    pointer = Path(exp_dir) / "checkpoints" / "LATEST"
    if not pointer.is_file():
        return None
    ckpt = pointer.parent / pointer.read_text().strip()
    return ckpt if (ckpt / "state.pt").is_file() else None


def load_checkpoint(ckpt: Path, modules: dict, optimizers: dict, schedulers: dict,
                    map_location="cpu") -> dict:
    """Restore modules/optimizers/schedulers in place; return the saved state dict."""
    tensors = load_file(str(Path(ckpt) / "modules.safetensors"), device=str(map_location))
    for name, m in modules.items():
        prefix = name + "."
        _unwrap(m).load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    state = torch.load(Path(ckpt) / "state.pt", map_location=map_location, weights_only=True)
    for k, o in optimizers.items():
        o.load_state_dict(state["optimizers"][k])
    for k, s in schedulers.items():
        s.load_state_dict(state["schedulers"][k])
    return state
