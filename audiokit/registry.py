"""Model names -> classes, and self-describing model directories.

A trained model is a directory with ``config.yaml`` (the resolved config; its ``model``
section holds ``name`` and the constructor's keyword arguments) and
``model.safetensors``. :func:`load_model` accepts only the names listed here, never an
import path from the file, so opening a downloaded model directory cannot run code.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch
import yaml

from audiokit.fsutil import atomic_open, atomic_path

# name -> "module:Class". A new model family adds one line here.
MODELS: dict[str, str] = {
    "mpsenet": "audiokit.enh.mpsenet:MPSENet",
    "mambattention": "audiokit.enh.mambattention:MambAttention",
    "hifigan": "audiokit.vocoder.hifigan:HiFiGANGenerator",
    "periodwave": "audiokit.vocoder.periodwave:PeriodWave",
    "fastspeech": "audiokit.tts.fastspeech:FastSpeech",
    "transformer_tts": "audiokit.tts.transformer_tts:TransformerTTS",
    "lina": "audiokit.tts.lina:LinaTTS",
}


class ModelDirError(ValueError):
    """A model directory that cannot be loaded; the message says what to do."""


def model_class(name: str):
    if name not in MODELS:
        raise ModelDirError(f"unknown model name {name!r}; registered: {', '.join(sorted(MODELS))}")
    module, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_model(model_cfg: dict) -> torch.nn.Module:
    """Instantiate a registered model from ``{"name": ..., **kwargs}``."""
    cfg = dict(model_cfg)
    name = cfg.pop("name", None)
    if name is None:
        raise ModelDirError("model config has no 'name'")
    return model_class(name)(**cfg)


def save_model(model: torch.nn.Module, directory: str | os.PathLike, config: dict,
               weights: str = "model.safetensors") -> Path:
    """Write ``config.yaml`` and the weights atomically; ``config['model']`` must build ``model``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if "model" not in config or "name" not in config["model"]:
        raise ModelDirError("config must have a 'model' section with a 'name'")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(directory / weights) as tmp:
        save_file(state, tmp)
    with atomic_open(directory / "config.yaml") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return directory


def read_config(directory: str | os.PathLike) -> dict:
    directory = Path(directory)
    cfg_path = directory / "config.yaml"
    if not cfg_path.is_file():
        raise ModelDirError(
            f"{directory}: not a model directory (no config.yaml). Train one with a recipe, "
            "e.g. egs/mini/enh/run.sh, and pass its exp/<tag> directory.")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict) or "model" not in cfg:
        raise ModelDirError(f"{cfg_path}: has no 'model' section")
    return cfg


def load_model(directory: str | os.PathLike, map_location: str | torch.device = "cpu",
               weights: str = "model.safetensors") -> torch.nn.Module:
    """Rebuild a model from ``config.yaml`` and load ``model.safetensors`` (no pickle)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    cfg = read_config(directory)
    model = build_model(cfg["model"])
    wpath = directory / weights
    if not wpath.is_file():
        raise ModelDirError(f"{directory}: no {weights}")
    model.load_state_dict(load_file(str(wpath), device=str(map_location)))
    model.config = cfg
    return model.to(map_location).eval()
