"""``audiokit score`` end to end over a small data directory built from real speech."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.cli import main
from audiokit.datadir import DataDir
from audiokit.metrics.score import ScoreError, score, score_pair

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
SPEECH = DATA / "speechbrain_samples/speech"
NOISE = DATA / "speechbrain_samples/noise"
SR = 16000


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """REF/EST data directories: 4 noisy speech utterances, one silent reference, one
    pair of unequal lengths, one stereo estimate, one NaN estimate and one 8 kHz estimate."""
    root = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(0)
    speech = sorted(SPEECH.glob("separation_source1_*.wav"))[:2] + sorted(SPEECH.glob("single-mic_example*.wav"))[:2]
    noise, nsr = sf.read(str(NOISE / "noise_noise1.wav"), dtype="float64")
    assert nsr == SR
    (root / "wav").mkdir()
    ref, est = {}, {}

    def put(utt, r, e, sr=SR, e_sr=None):
        sf.write(str(root / "wav" / f"{utt}_ref.wav"), r, sr, subtype="FLOAT")
        sf.write(str(root / "wav" / f"{utt}_est.wav"), e, e_sr or sr, subtype="FLOAT")
        ref[utt], est[utt] = f"../wav/{utt}_ref.wav", f"../wav/{utt}_est.wav"

    for i, (path, snr_db) in enumerate(zip(speech, (15, 5, 0, 10))):
        x, sr = sf.read(str(path), dtype="float64")
        assert sr == SR
        x = x[: 3 * SR]
        n = noise[i * 3 * SR: i * 3 * SR + x.size]
        y = x + n * np.sqrt(np.mean(x**2) / np.mean(n**2) / 10 ** (snr_db / 10))
        put(f"utt{i}", x, y)
    clean = sf.read(str(speech[0]), dtype="float64")[0][: 2 * SR]
    put("uttlen", clean, clean[: -800] + 0.01 * rng.standard_normal(clean.size - 800))
    put("uttsil", np.zeros(2 * SR), 1e-3 * rng.standard_normal(2 * SR))
    put("uttstereo", clean, np.stack([clean, clean], 1))
    bad = clean.copy()
    bad[1000] = np.nan
    put("uttnan", clean, bad)
    put("uttrate", clean, clean[::2], e_sr=8000)
    DataDir.write(root / "ref", spk1_scp=ref, wav_scp={k: v for k, v in est.items()})
    DataDir.write(root / "est", wav_scp=est)
    DataDir.write(root / "est_missing", wav_scp={k: v for k, v in est.items() if k != "utt3"})
    return root


def test_cli_scores_records_failures_and_goes_on(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["score", "--ref", str(corpus / "ref"), "--est", str(corpus / "est"), "--out", str(out),
               "--jobs", "2", "--quiet"])
    assert rc == 0
    rows = {r["utt_id"]: r for r in _read_csv(out / "per_utt.csv")}
    metrics = ["pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "sdr", "ssnr", "csig", "cbak", "covl"]
    assert list(next(iter(rows.values()))) == ["utt_id", *metrics]
    assert list(rows) == sorted(rows)
    for i in range(4):
        assert all(rows[f"utt{i}"][m] != "" for m in metrics), rows[f"utt{i}"]
    # Noisier input scores lower (0 dB utt2 vs 15 dB utt0).
    assert float(rows["utt0"]["pesq_wb"]) > float(rows["utt2"]["pesq_wb"])
    assert float(rows["utt0"]["si_sdr"]) > float(rows["utt2"]["si_sdr"])

    fails = _read_csv(out / "failures.csv")
    reasons = {(f["utt_id"], f["metric"]): f["reason"] for f in fails}
    assert "No utterances detected" in reasons[("uttsil", "pesq_wb")]
    assert rows["uttsil"]["pesq_wb"] == ""
    assert "2 channels" in reasons[("uttstereo", "stoi")]
    assert "NaN" in reasons[("uttnan", "si_sdr")]
    assert "sample rate mismatch" in reasons[("uttrate", "pesq_wb")]
    assert {u for u, _ in reasons} == {"uttsil", "uttstereo", "uttnan", "uttrate"}

    # The unequal pair is truncated to the shorter and recorded.
    mism = _read_csv(out / "length_mismatch.csv")
    assert mism == [{"utt_id": "uttlen", "ref_samples": str(2 * SR), "est_samples": str(2 * SR - 800),
                     "sample_rate": str(SR)}]

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == metrics
    s = summary["pesq_wb"]
    vals = [float(rows[u]["pesq_wb"]) for u in rows if rows[u]["pesq_wb"]]
    assert s["n"] == 5 and s["n_failed"] == 4
    assert s["mean"] == pytest.approx(np.mean(vals), abs=1e-5)
    assert s["std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-5)
    assert s["ci95"] == pytest.approx(2.7764451 * s["std"] / np.sqrt(5), rel=1e-6)  # t(0.975, 4)
    assert "| pesq_wb |" in (out / "summary.md").read_text()
    assert "| pesq_wb |" in capsys.readouterr().out

    # Worker results equal the in-process single-pair API.
    x = sf.read(str(corpus / "wav/utt1_ref.wav"), dtype="float64")[0]
    y = sf.read(str(corpus / "wav/utt1_est.wav"), dtype="float64")[0]
    direct = score_pair(x, y, SR, metrics)
    for m in metrics:
        assert float(rows["utt1"][m]) == pytest.approx(direct[m], abs=2e-6), m


def test_missing_ids_are_an_error_unless_allowed(corpus, tmp_path, capsys):
    args = ["score", "--ref", str(corpus / "ref"), "--est", str(corpus / "est_missing"),
            "--out", str(tmp_path / "out"), "--metrics", "si_sdr,stoi", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "1 only in REF (utt3)" in err and "--allow-missing" in err
    assert not (tmp_path / "out" / "per_utt.csv").exists()

    assert main(args + ["--allow-missing"]) == 0
    rows = _read_csv(tmp_path / "out" / "per_utt.csv")
    assert "utt3" not in {r["utt_id"] for r in rows} and len(rows) == 8
    assert "1 utterance id(s) present on one side only were skipped" in (tmp_path / "out" / "summary.md").read_text()


def test_python_api_and_table_choice(corpus, tmp_path):
    # An .scp file works as well as a directory; REF falls back to wav.scp without spk1.scp.
    DataDir.write(tmp_path / "refwav", wav_scp={"utt0": str(corpus / "wav/utt0_ref.wav")})
    summary = score(tmp_path / "refwav", corpus / "est" / "wav.scp", tmp_path / "out", metrics=["si_sdr"],
                    allow_missing=True, progress=False)
    assert summary["si_sdr"]["n"] == 1 and summary["si_sdr"]["std"] is None
    assert not (tmp_path / "out" / "failures.csv").exists()
    with pytest.raises(ScoreError, match="no such data directory"):
        score(tmp_path / "nope", corpus / "est", tmp_path / "out")
    with pytest.raises(ValueError, match="unknown metric"):
        score(corpus / "ref", corpus / "est", tmp_path / "out", metrics="pesq")
