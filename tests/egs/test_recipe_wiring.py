"""Stage 0 of the corpus recipes through their run.sh: option parsing, local/data.sh, validation."""

from audiokit.datadir import DataDir

from ._recipes import ROOT, copy_recipe, run
from .test_data_prep import _fake_vbd

SHARED = ROOT.parent / "shared" / "data" / "speechbrain_samples"


def test_diy_stage0(tmp_path):
    d = copy_recipe(tmp_path, "diy")
    r = run(d, "--stage", "0", "--stop_stage", "0")
    assert r.returncode == 2 and "needs --clean DIR and --noise DIR" in r.stderr
    r = run(d, "--stage", "0", "--stop_stage", "0", "--clean", str(SHARED / "speech"),
            "--noise", str(SHARED / "noise"), "--test_fraction", "0.2")
    assert r.returncode == 0, r.stderr[-2000:]
    train = DataDir(d / "data" / "train")
    assert train.has("spk1.scp") and not train.has("wav.scp")  # on-the-fly mixing
    assert DataDir(d / "data" / "train_noise").audio("wav.scp")
    test = DataDir(d / "data" / "test")
    assert set(test.audio("wav.scp")) == set(test.audio("spk1.scp"))


def test_voicebank_demand_stage0(tmp_path):
    d = copy_recipe(tmp_path, "voicebank_demand")
    corpus = tmp_path / "corpus"
    utts = _fake_vbd(corpus)
    r = run(d, "--stage", "0", "--stop_stage", "0", "--corpus", str(corpus))
    assert r.returncode == 0, r.stderr[-2000:]
    n = sum(len(DataDir(d / "data" / s).audio("spk1.scp")) for s in ("train", "dev", "test"))
    assert n == sum(len(v) for v in utts.values())
