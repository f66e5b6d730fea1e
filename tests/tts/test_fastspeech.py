"""FastSpeech with the MAS aligner: shapes, padding, attention switch, overfit, save/load, synthesis."""
import pytest
import torch

from audiokit.nn.attention import KINDS
from audiokit.registry import build_model, load_model, save_model
from audiokit.text.symbols import SymbolTable
from audiokit.tts.fastspeech import CONFIGS, FastSpeech

TINY = dict(vocab_size=20, n_mels=80, **CONFIGS["tiny"])


pytestmark = pytest.mark.usefixtures("one_thread")


def _params(m):
    return sum(p.numel() for p in m.parameters())


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 20, (2, 7), generator=g)
    tl = torch.tensor([7, 4])
    tokens[1, 4:] = 0
    mel = torch.randn(2, 80, 20, generator=g)
    ml = torch.tensor([20, 11])
    mel[1, :, 11:] = 0
    return tokens, tl, mel, ml


def test_base_config_size():
    m = FastSpeech(vocab_size=100)
    n = _params(m)
    # 8 FFT blocks of ~2.9M (conv 256x1024x9 dominates) + duration predictor + embeddings.
    assert 23e6 < n < 25e6, n
    assert m.mel_settings["sample_rate"] == 22050 and m.mel_settings["hop_length"] == 256


@pytest.mark.parametrize("kind", KINDS)
def test_forward_shapes_and_attention_switch(kind):
    torch.manual_seed(0)
    ref = FastSpeech(**TINY)
    m = FastSpeech(**TINY, attention=kind)
    attn = lambda mod: sum(_params(b.attn) for b in [*mod.encoder, *mod.decoder])  # noqa: E731
    assert _params(m) - attn(m) == _params(ref) - attn(ref)
    tokens, tl, mel, ml = _batch()
    out = m(tokens, tl, mel, ml)
    assert set(out) == {"loss", "prior", "duration", "mel", "durations"}
    assert out["durations"].shape == (2, 7)
    assert out["durations"].sum(1).tolist() == ml.tolist()
    assert out["durations"][1, 4:].sum() == 0
    assert torch.isfinite(out["loss"]) and out["loss"].dim() == 0
    out["loss"].backward()
    assert m.embed.weight.grad.abs().sum() > 0 and m.duration.proj.weight.grad.abs().sum() > 0
    m.eval()
    y, lens = m.synthesize(tokens, tl)
    assert y.shape[:2] == (2, 80) and y.shape[2] == int(lens.max())
    assert y[1, :, lens[1]:].abs().sum() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_the_encoder(kind):
    torch.manual_seed(0)
    m = FastSpeech(**TINY, attention=kind).eval()
    tokens, tl, _, _ = _batch()
    h, mu, logd, _ = m.encode(tokens, tl)
    h1, mu1, logd1, _ = m.encode(tokens[1:, :4], tl[1:])
    torch.testing.assert_close(h[1, :4], h1[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logd[1, :4], logd1[0], rtol=1e-4, atol=1e-5)
    assert h[1, 4:].abs().sum() == 0


def test_overfit_two_utterances_lowers_loss():
    torch.manual_seed(0)
    m = FastSpeech(**{**TINY, "dropout": 0.0, "dp_dropout": 0.0})
    tokens, tl, _, ml = _batch()
    # targets with structure: each token has its own spectrum, held for 2-3 frames
    protos = torch.randn(20, 80)
    mel = torch.zeros(2, 80, 20)
    for b in range(2):
        d = torch.tensor([3, 3, 3, 3, 3, 3, 2][: tl[b]])
        if b == 1:
            d = torch.tensor([3, 3, 3, 2])
        mel[b, :, : d.sum()] = torch.repeat_interleave(protos[tokens[b, : tl[b]]], d, 0).T
    ml = torch.tensor([20, 11])
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = m(tokens, tl, mel, ml)["loss"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = m(tokens, tl, mel, ml)
    assert last["loss"].item() < 0.6 * first, (first, last["loss"].item())
    assert last["mel"].item() < 0.5


def test_synthesize_length_is_sum_of_rounded_durations_and_speed():
    torch.manual_seed(0)
    m = FastSpeech(**TINY).eval()
    with torch.no_grad():
        m.duration.proj.bias.fill_(1.2)      # exp(1.2) ~ 3.3 frames per token
    tokens, tl, _, _ = _batch()
    _, _, logd, _ = m.encode(tokens, tl)
    for speed in (1.0, 1.7, 0.6):
        expected = [int(torch.floor(logd[b, : tl[b]].exp() / speed + 0.5).clamp_min(1).sum()) for b in range(2)]
        y, lens = m.synthesize(tokens, tl, speed=speed)
        assert lens.tolist() == expected
        assert y.shape[-1] == max(expected)
    assert m.synthesize(tokens, tl, speed=2.0)[1].sum() < m.synthesize(tokens, tl)[1].sum()


def test_bad_input():
    m = FastSpeech(**TINY)
    tokens, tl, mel, ml = _batch()
    with pytest.raises(ValueError, match="n_mels|80"):
        m(tokens, tl, mel[:, :40], ml)
    with pytest.raises(ValueError, match="token ids"):
        m.synthesize(tokens + 100)
    with pytest.raises(ValueError, match="each token needs a frame"):
        m(tokens, tl, mel[..., :5], torch.tensor([5, 3]))
    with pytest.raises(ValueError, match="vocab_size"):
        FastSpeech()
    with pytest.raises(ValueError, match="mel_preset"):
        FastSpeech(vocab_size=10, n_mels=100)


def test_registry_round_trip_with_symbol_table(tmp_path):
    table = SymbolTable.characters()
    cfg = {"name": "fastspeech", "symbols": table.to_dict(), **CONFIGS["tiny"], "attention": "linear"}
    m = build_model(cfg).eval()
    assert m.vocab_size == len(table)
    save_model(m, tmp_path, {"model": cfg})
    m2 = load_model(tmp_path)
    assert m2.symbols == table
    tokens = torch.tensor([table.encode("hello")])
    y1, l1 = m.synthesize(tokens)
    y2, l2 = m2.synthesize(tokens)
    assert torch.equal(l1, l2)
    torch.testing.assert_close(y1, y2)
