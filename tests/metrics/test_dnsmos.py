"""DNSMOS against the speechmos package's own function, and reference-free ``audiokit score``."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechmos import dnsmos as speechmos_dnsmos

from audiokit.metrics import METRICS  # noqa: E402
from audiokit.metrics.common import MetricError  # noqa: E402
from audiokit.metrics.dnsmos import dnsmos  # noqa: E402
from audiokit.metrics.score import ScoreError, score  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "../shared/data"
NOISY = DATA / "pesq_reference/speech_bab_0dB.wav"
CLEAN = DATA / "pesq_reference/speech.wav"
pytestmark = pytest.mark.skipif(not NOISY.is_file(), reason="shared sample data not available")

KEYS = {"dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_ovrl": "ovrl_mos", "dnsmos_p808": "p808_mos"}


def _read(path):
    x, sr = sf.read(path, dtype="float32")
    assert sr == 16000
    return x


def _check(ours, theirs):
    for k, v in KEYS.items():
        assert ours[k] == pytest.approx(float(theirs[v]), abs=1e-4), k


@pytest.mark.parametrize("personalized", [False, True], ids=["default", "personalized"])
def test_matches_speechmos_short_clip(personalized):
    x = _read(NOISY)  # 3.1 s: repeated up to one 9.01 s window
    ours = dnsmos(x, 16000, personalized=personalized)
    theirs = speechmos_dnsmos.run(x, 16000, model_type="dnsmos_personalized" if personalized else "dnsmos")
    _check(ours, theirs)
    assert 1.0 <= ours["dnsmos_ovrl"] <= 5.0


def test_matches_speechmos_long_clip():
    # 28 s of real speech: 20 hops, of which the float-rounded short windows (7..) are skipped
    speech = sorted((DATA / "speechbrain_samples/speech").glob("separation_source*.wav"))
    x = np.concatenate([_read(p) for p in speech[:5]])
    assert x.size > 25 * 16000
    _check(dnsmos(x, 16000), speechmos_dnsmos.run(x, 16000))


def test_clean_scores_higher_than_babble():
    clean, noisy = dnsmos(_read(CLEAN)), dnsmos(_read(NOISY))
    assert clean["dnsmos_bak"] > noisy["dnsmos_bak"] + 1
    assert clean["dnsmos_ovrl"] > noisy["dnsmos_ovrl"]


def test_errors():
    with pytest.raises(MetricError, match="16000 Hz"):
        dnsmos(np.zeros(8000), 8000)
    with pytest.raises(MetricError, match=r"\[-1, 1\]"):
        dnsmos(np.full(16000, 2.0), 16000)
    assert all(METRICS[k].reference_free and METRICS[k].rates == (16000,) for k in KEYS)


def _est_dir(tmp_path):
    d = tmp_path / "est"
    (d / "wav").mkdir(parents=True)
    rows = []
    for name, src in (("a_noisy", NOISY), ("b_clean", CLEAN)):
        x, sr = sf.read(src)
        sf.write(d / "wav" / f"{name}.wav", x, sr)
        rows.append(f"{name} wav/{name}.wav")
    (d / "wav.scp").write_text("\n".join(rows) + "\n")
    return d


def test_score_without_reference_cli(tmp_path):
    est = _est_dir(tmp_path)
    out = tmp_path / "scores"
    r = subprocess.run([sys.executable, "-m", "audiokit", "score", "--est", str(est), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out / "per_utt.csv")))
    assert [row["utt_id"] for row in rows] == ["a_noisy", "b_clean"]
    assert set(rows[0]) == {"utt_id", *KEYS}
    ref = speechmos_dnsmos.run(_read(NOISY), 16000)
    assert float(rows[0]["dnsmos_ovrl"]) == pytest.approx(float(ref["ovrl_mos"]), abs=1e-4)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dnsmos_p808"]["n"] == 2


def test_score_reference_free_rules(tmp_path):
    est = _est_dir(tmp_path)
    with pytest.raises(ScoreError, match="need references"):
        score(None, est, tmp_path / "o1", metrics="pesq_wb,dnsmos_sig", progress=False)
    # with a reference, DNSMOS may be asked for beside intrusive metrics and ignores it
    s = score(est, est, tmp_path / "o2", metrics="stoi,dnsmos_bak", progress=False)
    assert s["stoi"]["n"] == 2 and s["dnsmos_bak"]["n"] == 2
    alone = score(None, est, tmp_path / "o3", metrics="dnsmos_bak", progress=False)
    assert s["dnsmos_bak"]["mean"] == pytest.approx(alone["dnsmos_bak"]["mean"], abs=1e-9)
