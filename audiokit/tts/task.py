"""Trainer task (:mod:`audiokit.train.task`) for every TTS acoustic model.

**The TTS model contract** (FastSpeech, and the autoregressive Transformer-TTS and Lina of
issue #10 alike; a model is chosen by its registry name, ``fastspeech``, ``transformer_tts``,
``lina``):

* ``forward(tokens, token_lengths, mel, mel_lengths) -> dict``: training losses on a batch;
  the ``"loss"`` entry is the total training loss (a scalar tensor); every other 0-dim tensor
  entry is logged (``"prior"``, ``"duration"``, ``"cfm"``, ...), anything else is ignored;
* ``synthesize(tokens, token_lengths=None, **kw) -> (mel [B, n_mels, F], mel_lengths [B])``:
  un-normalised log-mels zero past each length; ``kw`` are model-specific (``steps``,
  ``temperature``, ``speed``, ...) and :mod:`audiokit.infer.synthesize` passes only those
  the method accepts;
* the constructor takes ``symbols=`` (a :class:`~audiokit.text.symbols.SymbolTable` dict,
  kept as :attr:`symbols`) and a mel preset (``mel_preset=``, kept as :attr:`mel_settings`,
  the :class:`~audiokit.frontend.mel.MelSpectrogram` settings), so ``config.yaml`` rebuilds
  a model that reads the same symbols and writes the mel a vocoder expects; where it takes
  ``mel_mean``/``mel_std``, the recipe measures them on the training set.

Inputs: ``tokens`` [B, T] long (0 = pad), ``token_lengths`` [B], ``mel`` [B, n_mels, F] log-mel
of :mod:`audiokit.frontend.mel` (the model's preset), ``mel_lengths`` [B]; batches are the
dicts of :func:`audiokit.tts.data.collate` (plus ``utt``). One optimizer, named ``model``.
Validation reports the teacher-forced losses averaged over the dev set (``loss`` is the one
to select on, lower is better).
"""

from __future__ import annotations

import torch

from audiokit.registry import build_model

__all__ = ["TTSTask"]


def _scalars(out: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in out.items() if isinstance(v, torch.Tensor) and v.dim() == 0}


class TTSTask:
    """Train a TTS model that follows the contract above.

    Args:
        model: ``{"name": <registered TTS model>, **constructor kwargs}`` (incl. ``symbols``).
    """

    def __init__(self, model: dict):
        self.model_cfg = dict(model)
        self.model = build_model(self.model_cfg)
        for attr in ("synthesize", "mel_settings"):
            if not hasattr(self.model, attr):
                raise ValueError(f"TTSTask: model {self.model_cfg.get('name')!r} has no {attr!r}; "
                                 "it does not follow the TTS model contract (see audiokit.tts.task)")
        self.device = torch.device("cpu")

    def modules(self):
        return {"model": self.model}

    def to(self, device):
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    def _losses(self, batch) -> dict:
        out = self.model(batch["tokens"], batch["token_lengths"], batch["mel"], batch["mel_lengths"])
        if "loss" not in out:
            raise ValueError(f"TTSTask: {type(self.model).__name__}.forward returned no 'loss' (keys {sorted(out)})")
        return out

    def train_step(self, batch, update):
        out = self._losses(batch)
        update("model", out["loss"])
        return {k: float(v.detach()) for k, v in _scalars(out).items()}

    @torch.no_grad()
    def validate(self, loader):
        sums: dict[str, float] = {}
        n = 0
        for batch in loader:
            batch = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
            b = batch["tokens"].shape[0]
            for k, v in _scalars(self._losses(batch)).items():
                sums[k] = sums.get(k, 0.0) + float(v) * b
            n += b
        return {k: v / n for k, v in sums.items()} if n else {}

    def export(self):
        return self.model, self.model_cfg

    def close(self):
        pass
