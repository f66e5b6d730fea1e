"""audiokit synthesize: one text, a text file, a data directory, failures, mel mismatch, missing models."""
import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.cli import main
from audiokit.datadir import read_table
from audiokit.registry import build_model, save_model
from audiokit.text import SymbolTable
from audiokit.tts.cfm_decoder import CONFIGS as CFM
from audiokit.tts.fastspeech import CONFIGS

VOC = {"name": "hifigan", "upsample_initial_channel": 32, "resblock_kernel_sizes": [3],
       "resblock_dilation_sizes": [[1, 3, 5]]}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_models")
    torch.manual_seed(0)
    cfg = {"name": "fastspeech", "symbols": SymbolTable.standard_ipa().to_dict(), **CONFIGS["tiny"],
           "decoder": "cfm", "cfm": CFM["tiny"]}
    m = build_model(cfg)
    with torch.no_grad():
        m.duration.proj.bias.fill_(1.0)          # about 3 frames per symbol
    save_model(m, root / "tts", {"model": cfg, "frontend": {"type": "espeak", "language": "en-us"}})
    save_model(build_model(VOC), root / "voc", {"model": VOC})
    bad = {**VOC, "mel_preset": None, "sample_rate": 22050, "n_fft": 1024, "hop_length": 256, "win_length": 1024,
           "n_mels": 80, "fmin": 0.0, "fmax": 11025.0}
    save_model(build_model(bad), root / "voc_bad", {"model": bad})
    return root


def _run(*args):
    return main(["synthesize", *map(str, args)])


def test_one_sentence(models, tmp_path):
    out = tmp_path / "a.wav"
    rc = _run("Dr. Smith paid $27.", "-o", out, "--model", models / "tts", "--vocoder", models / "voc",
              "--steps", 2, "--device", "cpu")
    assert rc == 0
    wav, sr = sf.read(out)
    assert sr == 22050 and wav.size % 256 == 0 and wav.size >= 256 * 10
    # speed 2 speaks faster: fewer frames
    rc = _run("Dr. Smith paid $27.", "-o", tmp_path / "b.wav", "--model", models / "tts", "--vocoder",
              models / "voc", "--steps", 2, "--speed", 2)
    assert rc == 0 and sf.info(tmp_path / "b.wav").frames < wav.size


def test_text_file_with_a_bad_sentence(models, tmp_path, capsys):
    f = tmp_path / "s.txt"
    f.write_text("First sentence.\n\n\u2603\u2603\nThe second one, 42 times.\n", encoding="utf-8")
    rc = _run("--text-file", f, "-o", tmp_path / "out", "--model", models / "tts", "--vocoder", models / "voc",
              "--steps", 1, "--batch-size", 2)
    assert rc == 1
    assert sorted(read_table(tmp_path / "out" / "wav.scp")) == ["utt0001", "utt0003"]
    assert read_table(tmp_path / "out" / "text") == {"utt0001": "First sentence.", "utt0003": "The second one, 42 times."}
    fail = read_table(tmp_path / "out" / "failures.txt")
    assert list(fail) == ["utt0002"] and "SNOWMAN" in fail["utt0002"]
    assert "1 failed" in capsys.readouterr().err


def test_data_directory_keeps_ids_and_batching_does_not_change_lengths(models, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "text").write_text("u1 Hello there.\nu2 A much longer sentence than the first one.\n", encoding="utf-8")
    for bs in (1, 2):
        rc = _run("--text-file", d, "-o", tmp_path / f"o{bs}", "--model", models / "tts", "--vocoder", models / "voc",
                  "--steps", 1, "--batch-size", bs, "--temperature", 0)
        assert rc == 0
        assert sorted(read_table(tmp_path / f"o{bs}" / "wav.scp")) == ["u1", "u2"]
    for u in ("u1", "u2"):
        assert sf.info(tmp_path / "o1" / "wavs" / f"{u}.wav").frames == sf.info(tmp_path / "o2" / "wavs" / f"{u}.wav").frames


def test_errors_without_stack_traces(models, tmp_path, capsys):
    assert _run("hi", "-o", tmp_path / "x.wav", "--vocoder", models / "voc") == 2
    err = capsys.readouterr().err
    assert "no acoustic model" in err and "egs/mini/tts/run.sh" in err and "Traceback" not in err
    assert _run("hi", "-o", tmp_path / "x.wav", "--model", tmp_path / "nowhere", "--vocoder", models / "voc") == 2
    assert "egs/ljspeech/tts/run.sh" in capsys.readouterr().err
    assert _run("hi", "-o", tmp_path / "x.wav", "--model", models / "tts") == 2
    assert "egs/mini/voc/run.sh" in capsys.readouterr().err
    assert _run("hi", "-o", tmp_path / "x.wav", "--model", models / "tts", "--vocoder", models / "voc_bad") == 2
    err = capsys.readouterr().err
    assert "fmax=8000.0 (model: 11025.0)" in err
    assert _run("hi", "-o", tmp_path / "x.wav", "--model", models / "voc", "--vocoder", models / "voc") == 2
    assert "not a TTS acoustic model" in capsys.readouterr().err
    assert _run("hi", "--text-file", "f", "-o", tmp_path / "x", "--model", models / "tts", "--vocoder", models / "voc") == 2
    assert _run("hi", "-o", tmp_path / "x.wav", "--model", models / "tts", "--vocoder", models / "voc", "--steps", 0) == 2
    assert "--steps must be a positive integer" in capsys.readouterr().err


@pytest.fixture(scope="module")
def adapted(models):
    """A tiny Lina model and an adapted directory beside it holding non-zero initial states."""
    from audiokit.tts.adapt import save_adapted
    from audiokit.tts.lina import CONFIGS as LINA

    torch.manual_seed(1)
    cfg = {"name": "lina", "symbols": SymbolTable.standard_ipa().to_dict(), **LINA["tiny"]}
    m = build_model(cfg)
    with torch.no_grad():
        m.head.stop_out.bias.fill_(-20.0)      # never stops: 10 frames per symbol, long enough to compare
    save_model(m, models / "lina", {"model": cfg, "frontend": {"type": "espeak", "language": "en-us"}})
    state = build_model(cfg).new_initial_state(rank=1, scale=0.02)
    with torch.no_grad():
        state.k.normal_(0, 30.0)
        state.v.normal_(0, 30.0)
    save_adapted(models / "lina_adapted", state, models / "lina")
    return models / "lina_adapted", state


def test_adapted_model_directory(models, adapted, tmp_path):
    from audiokit.infer.synthesize import Synthesizer, load_tts, load_vocoder
    from audiokit.registry import load_model

    adapted_dir, state = adapted
    text = "Hello there."
    # reference: the base model with the states installed by hand
    model = load_model(models / "lina").eval()
    model.set_initial_state(state)
    fe = {"type": "espeak", "language": "en-us"}
    synth = Synthesizer(model, model.symbols, fe, load_vocoder(models / "voc"))
    tokens = torch.tensor([synth.tokens(text)])

    def mel(m):
        torch.manual_seed(3)                   # the pre-net's dropout stays on at inference
        return m.synthesize(tokens)[0]

    loaded, table, frontend = load_tts(adapted_dir)     # what the CLI loads
    assert frontend == fe and table.to_dict() == model.symbols.to_dict()
    torch.testing.assert_close(mel(loaded), mel(model), rtol=0, atol=0)
    base, _, _ = load_tts(models / "lina")
    assert (mel(base) - mel(model)).abs().max() > 1e-2         # the states change the output

    assert _run(text, "-o", tmp_path / "adapted.wav", "--model", adapted_dir, "--vocoder", models / "voc",
                "--seed", 3, "--device", "cpu") == 0
    got, sr = sf.read(tmp_path / "adapted.wav", dtype="float32")
    torch.manual_seed(3)
    want = synth([synth.tokens(text)])[0].clamp(-1, 1).numpy()
    assert sr == 22050 and got.shape == want.shape and got.size >= 256 * 20
    np.testing.assert_allclose(got, want, atol=1e-4)   # 16-bit file


def test_adapted_directory_errors(models, adapted, tmp_path, capsys):
    import shutil

    adapted_dir, _ = adapted
    moved = tmp_path / "moved"
    shutil.copytree(adapted_dir, moved)
    (moved / "adapted.yaml").write_text("base_model: ../nowhere\nbase_model_abs: /nonexistent/base\n")
    assert _run("hi", "-o", tmp_path / "x.wav", "--model", moved, "--vocoder", models / "voc") == 2
    err = capsys.readouterr().err
    assert "base model not found" in err and "Traceback" not in err
    # states tuned on other weights are refused
    other = tmp_path / "other"
    shutil.copytree(adapted_dir, other)
    meta = (other / "adapted.yaml").read_text().replace("base_weights_sha256: ", "base_weights_sha256: 0")
    (other / "adapted.yaml").write_text(meta)
    assert _run("hi", "-o", tmp_path / "x.wav", "--model", other, "--vocoder", models / "voc") == 2
    assert "SHA-256 differs" in capsys.readouterr().err
