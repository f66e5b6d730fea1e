"""Turn mel spectrograms or recordings back into waveforms with a trained vocoder (``audiokit vocode``).

Inputs:

* audio files, folders (searched recursively) and data directories (their ``wav.scp``):
  copy-synthesis. The audio is resampled to the model's rate, peak-normalised to 0.95 as
  the vocoders were trained, turned into the model's own mel, vocoded, and scaled back by
  the same gain so the output's level matches the input (scores compare the two);
* saved mels: ``.npy`` arrays or ``.pt`` tensors of shape ``[n_mels, frames]``, or a ``.pt``
  dict ``{"mel": tensor, "mel_settings": {...}}`` (what a TTS model can save). The mel
  settings (``--mel-settings`` or the dict's) are compared with the model's and any
  difference is an error naming the settings that differ.

Outputs are written at the model's rate as ``OUT/wavs/<utt>.wav`` with ``OUT/wav.scp``;
utterances are vocoded in batches of similar length (mels padded with silence, outputs
trimmed). A file that fails is reported in ``OUT/failures.txt`` and the rest go on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audiokit.audio import AudioError, load, resample, save
from audiokit.datadir import DataDirError
from audiokit.frontend.mel import MelSpectrogram
from audiokit.infer.jobs import AUDIO_EXTS, Job, report, write_results
from audiokit.infer.jobs import collect_jobs as _collect
from audiokit.vocoder.data import peak_normalise

MEL_EXTS = (".npy", ".pt")

__all__ = ["MelMismatchError", "check_mel_settings", "vocode_mels", "vocode_waveform", "collect_jobs",
           "vocode_jobs", "add_arguments", "run"]


class MelMismatchError(ValueError):
    """Mel settings of an input differ from those the vocoder was trained on."""


def check_mel_settings(model_settings: dict, given: dict, where: str = "input") -> None:
    """Raise :class:`MelMismatchError` listing every setting of ``given`` that differs from the model's."""
    unknown = set(given) - set(model_settings)
    if unknown:
        raise MelMismatchError(f"{where}: unknown mel settings {sorted(unknown)}; known: {sorted(model_settings)}")
    diff = []
    for k, v in given.items():
        m = model_settings[k]
        same = (m is None and v is None) or (m is not None and v is not None and abs(float(m) - float(v)) < 1e-6)
        if not same:
            diff.append(f"{k}={v} (model: {m})")
    if diff:
        raise MelMismatchError(f"{where}: mel settings do not match the vocoder's: " + ", ".join(diff)
                               + ". Compute the mel with the model's settings or use a vocoder trained on these.")


def _mel_frontend(model) -> MelSpectrogram:
    """A CPU copy of the model's mel front-end (the model may live on the GPU)."""
    return MelSpectrogram(**model.mel_settings)


@torch.no_grad()
def vocode_mels(model, mels: list[torch.Tensor], *, steps: int | None = None, device="cpu",
                generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Vocode a batch of mels (each ``[n_mels, frames]``) -> waveforms ``[frames * hop]`` (CPU, float32).

    Shorter mels are padded with the log of the mel floor (silence) and outputs trimmed.
    ``steps`` applies to PeriodWave (ODE steps); HiFi-GAN ignores it.
    """
    hop, n_mels = model.mel_settings["hop_length"], model.mel_settings["n_mels"]
    for m in mels:
        if m.dim() != 2 or m.shape[0] != n_mels:
            raise MelMismatchError(f"mel must be [n_mels={n_mels}, frames], got {tuple(m.shape)}")
    floor = float(np.log(_mel_frontend(model).clamp))
    frames = max(m.shape[1] for m in mels)
    batch = torch.full((len(mels), n_mels, frames), floor)
    for i, m in enumerate(mels):
        batch[i, :, : m.shape[1]] = m
    batch = batch.to(device)
    if hasattr(model, "generate"):
        out = model.generate(batch, steps=steps, generator=generator)
    else:
        out = model(batch)
    out = out.reshape(len(mels), -1).float().cpu()
    return [out[i, : m.shape[1] * hop] for i, m in enumerate(mels)]


def vocode_waveform(model, wav: torch.Tensor, sample_rate: int, *, steps: int | None = None,
                    device="cpu") -> torch.Tensor:
    """Copy-synthesis of one mono waveform ``[T]``: returns ``[T']`` at the model's rate, same level."""
    return _copy_synthesis(model, [(wav, sample_rate)], steps=steps, device=device)[0]


def _copy_synthesis(model, items, *, steps=None, device="cpu") -> list[torch.Tensor]:
    sr_model = model.mel_settings["sample_rate"]
    mel_fn = _mel_frontend(model)
    mels, gains, lengths = [], [], []
    for wav, sr in items:
        if wav.dim() != 1:
            raise AudioError(f"expected a mono waveform [samples], got shape {tuple(wav.shape)}")
        x = resample(wav.float(), sr, sr_model)
        if x.numel() < mel_fn.n_fft:
            raise AudioError(f"{x.numel()} samples at {sr_model} Hz: shorter than one mel window ({mel_fn.n_fft})")
        x, gain = peak_normalise(x)
        mels.append(mel_fn(x[None])[0])
        gains.append(gain)
        lengths.append(x.numel())
    outs = vocode_mels(model, mels, steps=steps, device=device)
    res = []
    for y, g, n in zip(outs, gains, lengths):
        y = torch.nn.functional.pad(y, (0, max(0, n - y.numel())))[:n]  # frames * hop <= n
        res.append(y / g)
    return res


def collect_jobs(inputs: list[str], out_dir: Path) -> list[Job]:
    """Audio files, folders, data directories (``wav.scp``) and mel files (``.npy``/``.pt``)."""
    return _collect(inputs, out_dir, AUDIO_EXTS + MEL_EXTS)


def _kind(job: Job) -> str:
    return "mel" if job.src.suffix.lower() in MEL_EXTS else "audio"


def _size(job: Job) -> int:  # for batching similar lengths together
    return job.src.stat().st_size if job.src.exists() else 0


def load_mel(path: Path, model_settings: dict, given_settings: dict | None = None) -> torch.Tensor:
    """Read a saved mel ``[n_mels, frames]`` and check its settings against the model's."""
    if path.suffix.lower() == ".npy":
        mel = torch.from_numpy(np.load(path, allow_pickle=False))
        settings = given_settings
    else:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        settings = given_settings
        if isinstance(obj, dict):
            if "mel" not in obj:
                raise MelMismatchError(f"{path}: a .pt dict must hold 'mel' (and optionally 'mel_settings')")
            settings = obj.get("mel_settings") or given_settings
            obj = obj["mel"]
        if not isinstance(obj, torch.Tensor):
            raise MelMismatchError(f"{path}: expected a tensor [n_mels, frames], got {type(obj).__name__}")
        mel = obj
    mel = mel.float()
    if mel.dim() == 3 and mel.shape[0] == 1:
        mel = mel[0]
    if settings:
        check_mel_settings(model_settings, dict(settings), str(path))
    n_mels = model_settings["n_mels"]
    if mel.dim() != 2 or mel.shape[0] != n_mels:
        raise MelMismatchError(f"{path}: mel must be [n_mels={n_mels}, frames] for this vocoder, got "
                               f"{tuple(mel.shape)}")
    if not torch.isfinite(mel).all():
        raise MelMismatchError(f"{path}: mel has NaN/Inf values")
    return mel


def vocode_jobs(model, jobs: list[Job], out_dir: Path, *, steps=None, device="cpu", batch_size: int = 1,
                mel_settings: dict | None = None, downmix=False, progress=True, bf16=False) -> dict[str, str]:
    """Run ``jobs`` in batches; write ``out_dir/wav.scp`` for the successes; return ``{utt_id: error}``.
    bf16: run the network under bfloat16 autocast (the ODE state of flow-matching models stays fp32)."""
    sr_model = model.mel_settings["sample_rate"]
    done: dict[str, str] = {}
    failures: dict[str, str] = {}
    order = sorted(jobs, key=lambda j: (_kind(j), _size(j)))
    bar = tqdm(total=len(jobs), desc="vocode", disable=not progress, dynamic_ncols=True)
    for start in range(0, len(order), max(1, batch_size)):
        group = order[start:start + max(1, batch_size)]
        loaded = []
        for job in group:  # read each input; a bad one fails alone
            try:
                if _kind(job) == "mel":
                    loaded.append((job, load_mel(job.src, model.mel_settings, mel_settings)))
                else:
                    loaded.append((job, load(job.src, downmix=downmix)))
            except (AudioError, ValueError, OSError, RuntimeError) as e:
                failures[job.utt_id] = f"{job.src}: {e}"
        for kind in ("mel", "audio"):
            part = [(j, x) for j, x in loaded if _kind(j) == kind]
            if not part:
                continue
            def net(xs, kind=kind):
                with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
                    return (vocode_mels(model, xs, steps=steps, device=device) if kind == "mel" else
                            _copy_synthesis(model, xs, steps=steps, device=device))

            try:
                outs = net([x for _, x in part])
            except (AudioError, ValueError, RuntimeError) as e:
                if len(part) > 1:  # find the culprit: retry one by one
                    outs = []
                    for j, x in part:
                        try:
                            outs.append(net([x])[0])
                        except (AudioError, ValueError, RuntimeError) as e1:
                            failures[j.utt_id] = f"{j.src}: {e1}"
                            outs.append(None)
                else:
                    failures[part[0][0].utt_id] = f"{part[0][0].src}: {e}"
                    outs = [None]
            for (job, _), y in zip(part, outs):
                if y is None:
                    continue
                try:
                    save(job.dst, y.float().clamp(-1.0, 1.0), sr_model)
                    done[job.utt_id] = str(job.dst.relative_to(out_dir))
                except (AudioError, OSError) as e:
                    failures[job.utt_id] = f"{job.src}: {e}"
        bar.update(len(group))
    bar.close()
    write_results(out_dir, done, failures)
    return failures


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="IN",
                   help="audio files, folders or data directories (copy-synthesis), or mels (.npy/.pt [n_mels, frames])")
    p.add_argument("-o", "--out", required=True, help="output folder (gets wavs/ and wav.scp)")
    p.add_argument("--model", required=True, help="trained vocoder directory (config.yaml + model.safetensors)")
    p.add_argument("--steps", type=int, default=None,
                   help="ODE steps for PeriodWave (default: the model's: 16 midpoint, Turbo its fixed 2 or 4)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--batch-size", type=int, default=4, help="utterances per forward pass (default: %(default)s)")
    p.add_argument("--mel-settings", default=None,
                   help="JSON of the mel settings the input mels were computed with (checked against the model)")
    p.add_argument("--downmix", action="store_true", help="average multichannel input instead of refusing it")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (faster on GPUs, see BENCHMARKS.md; the ODE state stays fp32)")


def run(args: argparse.Namespace) -> int:
    from audiokit.registry import ModelDirError, load_model

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        if args.steps is not None and args.steps < 1:
            raise ValueError(f"--steps must be a positive integer, got {args.steps}")
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be a positive integer, got {args.batch_size}")
        settings = json.loads(args.mel_settings) if args.mel_settings else None
        model = load_model(args.model, map_location=device)
        if not hasattr(model, "mel_settings"):
            raise ModelDirError(f"{args.model}: {type(model).__name__} is not a vocoder (no mel settings)")
        if hasattr(model, "remove_weight_norm"):
            model.remove_weight_norm()
        if settings:
            check_mel_settings(model.mel_settings, settings, "--mel-settings")
        out = Path(args.out)
        jobs = collect_jobs(args.inputs, out)
    except (ModelDirError, AudioError, DataDirError, ValueError) as e:
        print(f"audiokit vocode: {e}", file=sys.stderr)
        return 2
    failures = vocode_jobs(model, jobs, out, steps=args.steps, device=device, batch_size=args.batch_size,
                           mel_settings=settings, downmix=args.downmix, bf16=args.bf16)
    return report("vocoded", len(jobs), failures, out, "inputs")
