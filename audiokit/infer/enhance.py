"""Enhance files, folders or data directories with a trained model (``audiokit enhance``).

Any input rate: audio is resampled to the model's rate and the result back to the input's.
Two modes for long recordings:

* chunked (the default for models with softmax attention): overlapping chunks cross-faded
  linearly, so model memory stays constant whatever the length;
* one pass (``--one-pass``, and the default for models that declare ``linear_in_time``, e.g.
  MambAttention with ``time_attention=linear``): the whole recording in a single forward pass,
  so every frame sees the whole recording; bfloat16 autocast on GPU unless ``--no-bf16``.
  The peak memory of each file is logged.

A file that fails (also a GPU out-of-memory) is reported and the rest go on.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from audiokit.audio import AudioError, load, resample, save
from audiokit.datadir import DataDirError
from audiokit.infer.jobs import Job, collect_jobs, report, write_results

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


def peak_memory_gib(device) -> tuple[str, float]:
    """(what was measured, GiB): the allocator's peak on CUDA since the last reset, else the
    process's peak resident set (Linux reports ru_maxrss in KiB)."""
    if torch.device(device).type == "cuda":
        return "peak GPU memory", torch.cuda.max_memory_allocated(device) / 2**30
    return "peak process RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def plan(model, device, *, one_pass: bool | None = None, chunk_seconds: float | None = 10.0,
         bf16: bool | None = None) -> tuple[float | None, torch.dtype | None]:
    """Resolve the mode and precision: ``(chunk_seconds or None for one pass, autocast dtype or None)``.

    ``one_pass=None`` picks one pass for models that declare ``linear_in_time`` and chunks for the
    rest; ``bf16=None`` turns bfloat16 autocast on for one pass on CUDA only.
    """
    if one_pass is None:
        one_pass = bool(getattr(model, "linear_in_time", False)) or not chunk_seconds
    if not one_pass and not chunk_seconds:
        raise ValueError("chunked mode needs --chunk-seconds > 0")
    if bf16 is None:
        bf16 = one_pass and torch.device(device).type == "cuda"
    return (None if one_pass else chunk_seconds), (torch.bfloat16 if bf16 else None)


def enhance_jobs(model, jobs: list[Job], out_dir: Path, *, device="cpu", chunk_seconds=10.0,
                 overlap_seconds=1.0, downmix=False, amp_dtype=None, progress=True,
                 log_memory: bool | None = None) -> dict[str, str]:
    """Run ``jobs``; write ``out_dir/wav.scp`` for the successes; return ``{utt_id: error}``.

    ``chunk_seconds=None``: one pass per file. ``log_memory`` (default: in one-pass mode) prints
    each file's length, time and peak memory to stderr.
    """
    if log_memory is None:
        log_memory = chunk_seconds is None
    cuda = torch.device(device).type == "cuda"
    done: dict[str, str] = {}
    failures: dict[str, str] = {}
    for job in tqdm(jobs, desc="enhance", disable=not progress, dynamic_ncols=True):
        try:
            wav, sr = load(job.src, downmix=downmix)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            out = enhance_waveform(model, wav, sr, chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds,
                                   device=device, amp_dtype=amp_dtype)
            seconds = time.perf_counter() - t0
            save(job.dst, out, sr)
            done[job.utt_id] = str(job.dst.relative_to(out_dir))
            if log_memory:
                what, gib = peak_memory_gib(device)
                mode = "one pass" if chunk_seconds is None else f"{chunk_seconds:g} s chunks"
                tqdm.write(f"{job.utt_id}: {wav.numel() / sr:.1f} s of audio in {mode}, {seconds:.1f} s, "
                           f"{what} {gib:.2f} GiB", file=sys.stderr)
        except torch.OutOfMemoryError as e:
            hint = " (try --chunked)" if chunk_seconds is None else ""
            failures[job.utt_id] = f"{job.src}: out of memory{hint}: {str(e).splitlines()[0]}"
            if cuda:
                torch.cuda.empty_cache()
        except (AudioError, RuntimeError, ValueError) as e:
            failures[job.utt_id] = f"{job.src}: {e}"
    write_results(out_dir, done, failures)
    return failures


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="IN", help="audio files, folders or data directories (wav.scp)")
    p.add_argument("-o", "--out", required=True, help="output folder (gets wavs/ and wav.scp)")
    p.add_argument("--model", required=True, help="trained model directory (config.yaml + model.safetensors)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--one-pass", dest="one_pass", action="store_true", default=None,
                      help="whole files in one forward pass (default for models linear in time)")
    mode.add_argument("--chunked", dest="one_pass", action="store_false",
                      help="overlapping chunks even for models linear in time")
    p.add_argument("--chunk-seconds", type=float, default=10.0,
                   help="chunk length in chunked mode (0: one pass)")
    p.add_argument("--overlap-seconds", type=float, default=1.0, help="cross-fade between chunks")
    p.add_argument("--downmix", action="store_true", help="average multichannel input instead of refusing it")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: on for one pass on GPU, off otherwise)")


def run(args: argparse.Namespace) -> int:
    from audiokit.registry import ModelDirError, load_model

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        model = load_model(args.model, map_location=device)
        out = Path(args.out)
        jobs = collect_jobs(args.inputs, out)
        chunk_seconds, amp_dtype = plan(model, device, one_pass=args.one_pass, chunk_seconds=args.chunk_seconds,
                                        bf16=args.bf16)
    except (ModelDirError, AudioError, DataDirError, ValueError) as e:
        print(f"audiokit enhance: {e}", file=sys.stderr)
        return 2
    mode = "one pass per file" if chunk_seconds is None else f"{chunk_seconds:g} s chunks"
    print(f"audiokit enhance: {mode} on {device}{', bf16 autocast' if amp_dtype else ''}", file=sys.stderr)
    failures = enhance_jobs(model, jobs, out, device=device, chunk_seconds=chunk_seconds,
                            overlap_seconds=args.overlap_seconds, downmix=args.downmix, amp_dtype=amp_dtype)
    return report("enhanced", len(jobs), failures, out)
