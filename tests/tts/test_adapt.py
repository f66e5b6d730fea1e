"""audiokit adapt: initial-state tuning writes only small state files, changes only S0, and helps."""
import math

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from audiokit import cli, registry
from audiokit.datadir import DataDir
from audiokit.text.phonemize import build_frontend
from audiokit.text.symbols import SymbolTable
from audiokit.tts import adapt as A
from audiokit.tts.lina import CONFIGS
from audiokit.tts.transformer_tts import CONFIGS as TT_CONFIGS

SR = 22050


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def setup(tmp_path):
    """A tiny Lina model (character front-end) and a 'new voice': 4 short harmonic utterances."""
    table = SymbolTable.characters()
    cfg = {"name": "lina", "symbols": table.to_dict(), **CONFIGS["tiny"], "mel_mean": -6.0, "mel_std": 2.0}
    torch.manual_seed(0)
    model = registry.build_model(cfg)
    registry.save_model(model, tmp_path / "base", {"model": cfg, "frontend": {"type": "characters"}})
    wavs, texts = {}, {}
    t = np.arange(int(0.4 * SR)) / SR
    for i, text in enumerate(["a cab", "bad dog", "go ahead", "a big egg"]):
        f0 = 180 + 20 * i
        wav = 0.3 * sum(np.sin(2 * math.pi * f0 * h * t) / h for h in range(1, 6)) * np.hanning(len(t))
        path = tmp_path / "wavs" / f"u{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, wav.astype(np.float32), SR)
        wavs[f"u{i}"], texts[f"u{i}"] = str(path), text
    DataDir.write(tmp_path / "data", wav_scp=wavs, text=texts)
    return tmp_path


def _eval_loss(model, examples):
    model.eval()
    model.head.prenet.always_dropout = False
    with torch.no_grad():
        return model(*A.collate(examples))["loss"].item()


def test_adapt_cli_writes_only_states_and_changes_only_s0(setup):
    base_dir, out = setup / "base", setup / "adapted"
    rc = cli.main(["adapt", "--model", str(base_dir), "--data", str(setup / "data"), "-o", str(out),
                   "--steps", "30", "--device", "cpu", "--batch-size", "2"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [A.ADAPTED_FILE, A.STATE_FILE]
    assert (out / A.STATE_FILE).stat().st_size < 4096            # 2 layers x 2 heads x (16 + 32) floats
    meta = yaml.safe_load((out / A.ADAPTED_FILE).read_text())
    assert meta["rank"] == 1 and meta["utterances"] == 4 and meta["steps"] == 30

    base = registry.load_model(base_dir)
    adapted = A.load_adapted(out)
    assert A.load_tts_model(out).initial_state is not None and A.load_tts_model(base_dir).initial_state is None
    sd_base, sd_new = base.state_dict(), adapted.state_dict()
    assert set(sd_new) - set(sd_base) == {"initial_state.k", "initial_state.v"}
    for k, v in sd_base.items():                                   # weights and buffers untouched
        assert torch.equal(v, sd_new[k]), k

    # The states fit the new voice better than zero states do.
    frontend = build_frontend(A.frontend_config(registry.read_config(base_dir)))
    assert frontend.config()["type"] == "characters"
    examples, failures = A.load_examples(setup / "data", base, frontend)
    assert not failures
    assert _eval_loss(adapted, examples) < _eval_loss(base, examples)
    # Synthesis goes through the tuned states.
    adapted.head.prenet.always_dropout = base.head.prenet.always_dropout = False
    tokens = torch.tensor([base.symbols.encode(list("a cab"))])
    assert not torch.allclose(adapted.synthesize(tokens, max_frames=5, use_stop=False)[0],
                              base.synthesize(tokens, max_frames=5, use_stop=False)[0])


def test_adapt_function_rank_and_frozen_weights(setup):
    base = registry.load_model(setup / "base")
    examples, _ = A.load_examples(setup / "data", base, build_frontend({"type": "characters"}))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    state, losses = A.adapt(base, examples, steps=5, rank=3, batch_size=2, progress=False)
    assert state.k.shape == (2, 3, 2, 16) and state.v.shape == (2, 3, 2, 32) and len(losses) == 5
    assert all(not p.requires_grad for n, p in base.named_parameters() if not n.startswith("initial_state"))
    for k, v in before.items():
        assert torch.equal(v, base.state_dict()[k]), k
    torch.testing.assert_close(state(), 0.02 * torch.einsum("lrhk,lrhv->lhkv", state.k, state.v))


def test_adapted_dir_refuses_other_weights_and_bad_models(setup, capsys):
    base_dir, out = setup / "base", setup / "adapted"
    assert cli.main(["adapt", "--model", str(base_dir), "--data", str(setup / "data"), "-o", str(out),
                     "--steps", "2", "--device", "cpu"]) == 0
    # Retrained base weights: the states no longer belong to them.
    m = registry.load_model(base_dir)
    with torch.no_grad():
        next(m.parameters()).add_(1.0)
    registry.save_model(m, base_dir, registry.read_config(base_dir))
    with pytest.raises(A.AdaptError, match="SHA-256"):
        A.load_adapted(out)
    with pytest.raises(A.AdaptError, match="not an adapted model directory"):
        A.load_adapted(base_dir)
    # A model without recurrent states is refused with a message, not a traceback.
    table = SymbolTable.characters()
    tcfg = {"name": "transformer_tts", "symbols": table.to_dict(), **TT_CONFIGS["tiny"]}
    registry.save_model(registry.build_model(tcfg), setup / "tt", {"model": tcfg})
    assert cli.main(["adapt", "--model", str(setup / "tt"), "--data", str(setup / "data"), "-o",
                     str(setup / "x"), "--device", "cpu"]) == 2
    assert "needs a 'lina' model" in capsys.readouterr().err
