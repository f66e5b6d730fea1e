"""Enhance files, folders or data directories with a trained model (``audiokit enhance``).

Any input rate: audio is resampled to the model's rate and the result back to the input's.
Long recordings are processed in overlapping chunks cross-faded linearly, so model memory
stays constant whatever the length. A file that fails is reported and the rest go on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from audiokit.audio import AudioError, load, resample, save
from audiokit.datadir import DataDirError
from audiokit.infer.jobs import Job, collect_jobs, write_results

@torch.no_grad()
def enhance_waveform(model, wav: torch.Tensor, sample_rate: int, *, chunk_seconds: float | None = 10.0,
                     overlap_seconds: float = 1.0, device: str | torch.device = "cpu",
                     amp_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Enhance a mono waveform ``[T]`` given at ``sample_rate``; returns ``[T]`` at the same rate.

    ``chunk_seconds=None`` runs the whole signal in one pass.
    """
    if wav.dim() != 1:
        raise AudioError(f"expected a mono waveform [samples], got shape {tuple(wav.shape)}")
    sr_model = model.sample_rate
    x = resample(wav.float(), sample_rate, sr_model)
    n = x.numel()
    chunk = n if chunk_seconds is None else int(chunk_seconds * sr_model)
    overlap = min(int(overlap_seconds * sr_model), chunk // 2)

    def run(seg):
        seg = seg.to(device)
        if amp_dtype is not None:
            with torch.autocast(torch.device(device).type, dtype=amp_dtype):
                return model.enhance(seg).float().cpu()
        return model.enhance(seg).float().cpu()

    if n <= chunk:
        y = run(x)
    else:
        hop = chunk - overlap
        y = torch.zeros(n)
        weight = torch.zeros(n)
        fade = torch.linspace(0, 1, overlap + 2)[1:-1] if overlap > 0 else torch.ones(0)
        start = 0
        while True:
            end = min(start + chunk, n)
            seg_out = run(x[start:end])
            w = torch.ones(end - start)
            if start > 0 and overlap:
                w[:overlap] = fade
            if end < n and overlap:
                w[-overlap:] = fade.flip(0)
            y[start:end] += seg_out * w
            weight[start:end] += w
            if end == n:
                break
            start += hop
        y = y / weight.clamp_min(1e-8)
    return resample(y, sr_model, sample_rate)[: wav.numel()]


def enhance_jobs(model, jobs: list[Job], out_dir: Path, *, device="cpu", chunk_seconds=10.0,
                 overlap_seconds=1.0, downmix=False, amp_dtype=None, progress=True) -> dict[str, str]:
    """Run ``jobs``; write ``out_dir/wav.scp`` for the successes; return ``{utt_id: error}``."""
    done: dict[str, str] = {}
    failures: dict[str, str] = {}
    for job in tqdm(jobs, desc="enhance", disable=not progress, dynamic_ncols=True):
        try:
            wav, sr = load(job.src, downmix=downmix)
            out = enhance_waveform(model, wav, sr, chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds,
                                   device=device, amp_dtype=amp_dtype)
            save(job.dst, out, sr)
            done[job.utt_id] = str(job.dst.relative_to(out_dir))
        except (AudioError, RuntimeError, ValueError) as e:
            failures[job.utt_id] = f"{job.src}: {e}"
    write_results(out_dir, done, failures)
    return failures


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="IN", help="audio files, folders or data directories (wav.scp)")
    p.add_argument("-o", "--out", required=True, help="output folder (gets wavs/ and wav.scp)")
    p.add_argument("--model", required=True, help="trained model directory (config.yaml + model.safetensors)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--chunk-seconds", type=float, default=10.0,
                   help="process long files in chunks of this length (0: one pass)")
    p.add_argument("--overlap-seconds", type=float, default=1.0, help="cross-fade between chunks")
    p.add_argument("--downmix", action="store_true", help="average multichannel input instead of refusing it")
    p.add_argument("--bf16", action="store_true", help="run the model in bfloat16 autocast (GPU)")


def run(args: argparse.Namespace) -> int:
    from audiokit.registry import ModelDirError, load_model

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        model = load_model(args.model, map_location=device)
        out = Path(args.out)
        jobs = collect_jobs(args.inputs, out)
    except (ModelDirError, AudioError, DataDirError) as e:
        print(f"audiokit enhance: {e}", file=sys.stderr)
        return 2
    failures = enhance_jobs(model, jobs, out, device=device, chunk_seconds=args.chunk_seconds or None,
                            overlap_seconds=args.overlap_seconds, downmix=args.downmix,
                            amp_dtype=torch.bfloat16 if args.bf16 else None)
    print(f"enhanced {len(jobs) - len(failures)}/{len(jobs)} files into {out}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} failed (listed in {out / 'failures.txt'}):", file=sys.stderr)
        for k, v in list(failures.items())[:10]:
            print(f"  {k}: {v}", file=sys.stderr)
        return 1
    return 0
