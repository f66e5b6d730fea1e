"""Transformer-TTS: shapes, published size, KV-cache decoding vs the parallel form, losses, stop rule."""
import math

import pytest
import torch
import torch.nn.functional as F

from audiokit import registry
from audiokit.text.symbols import SymbolTable
from audiokit.tts.autoregressive import stop_loss
from audiokit.tts.transformer_tts import CONFIGS, TransformerTTS, guided_attention_loss, sinusoids


pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(B=2, T=7, F_=23, vocab=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, vocab, (B, T), generator=g)
    tl = torch.tensor([T] + [T - 2] * (B - 1))
    tokens[1:, T - 2:] = 0
    mel = torch.randn(B, 80, F_, generator=g) - 5
    ml = torch.tensor([F_] + [F_ - 6] * (B - 1))
    return tokens, tl, mel, ml


def _expected_base_params(vocab, d=512, ffn=2048, n_mels=80):
    """Parameter count of the published configuration, layer by layer from the paper's sizes."""
    lin = lambda i, o: i * o + o                                       # noqa: E731
    conv = lambda i, o, k: i * o * k + o                               # noqa: E731
    enc_prenet = vocab * 512 + conv(512, 512, 5) * 3 + 2 * 512 * 3 + lin(512, d)
    attn = 4 * lin(d, d)
    ff = lin(d, ffn) + lin(ffn, d)
    enc = 6 * (attn + ff + 2 * 2 * d)
    dec = 6 * (2 * attn + ff + 3 * 2 * d)
    dec_prenet = lin(n_mels, 256) + lin(256, 256) + lin(256, d)
    outs = lin(d, n_mels) + lin(d, 1)
    postnet = conv(n_mels, 512, 5) + 3 * conv(512, 512, 5) + conv(512, n_mels, 5) + 2 * (4 * 512 + n_mels)
    return enc_prenet + enc + dec + dec_prenet + outs + postnet + 2       # + the two alphas


def test_published_config_parameter_count():
    with torch.device("meta"):
        m = TransformerTTS(vocab_size=100, **CONFIGS["base"])
    assert sum(p.numel() for p in m.parameters()) == _expected_base_params(100)
    assert len(m.encoder) == len(m.decoder) == 6 and m.decoder[0].self_attn.h == 8


@pytest.mark.parametrize("r", [1, 3], ids=["r1", "r3"])
def test_forward_losses_and_shapes(r):
    torch.manual_seed(0)
    m = TransformerTTS(vocab_size=20, **CONFIGS["tiny"], reduction=r)
    tokens, tl, mel, ml = _batch()
    out = m(tokens, tl, mel, ml)
    assert set(out) == {"loss", "mel", "post", "stop", "guided_attn"}
    torch.testing.assert_close(out["loss"], out["mel"] + out["post"] + out["stop"] + out["guided_attn"])
    out["loss"].backward()
    assert m.enc_pos.alpha.grad is not None and m.dec_pos.alpha.grad is not None
    m.eval()
    y, lengths = m.synthesize(tokens, tl, max_frames=10, use_stop=False)
    assert y.shape[:2] == (2, 80) and y.shape[-1] >= 10 and lengths.tolist() == [10, 10]
    assert y[1, :, 10:].abs().sum() == 0


def test_bad_inputs_are_named():
    m = TransformerTTS(vocab_size=20, **CONFIGS["tiny"])
    tokens, tl, mel, ml = _batch()
    with pytest.raises(ValueError, match="mel must be"):
        m(tokens, tl, mel[:, :40], ml)
    with pytest.raises(ValueError, match="token ids"):
        m(tokens + 30, tl, mel, ml)
    with pytest.raises(ValueError, match="speed"):
        m.synthesize(tokens, tl, speed=1.5)
    with pytest.raises(ValueError, match="n_mels"):
        TransformerTTS(vocab_size=20, n_mels=64, **CONFIGS["tiny"])
    with pytest.raises(ValueError, match="guided attention"):
        TransformerTTS(vocab_size=20, **CONFIGS["tiny"], guided_attn_layers=5)


@pytest.mark.parametrize("r", [1, 2], ids=["r1", "r2"])
def test_cached_generation_equals_teacher_forced_recomputation(r):
    """Frames decoded step by step with the KV cache == one parallel pass over the same prefix."""
    torch.manual_seed(1)
    m = TransformerTTS(vocab_size=20, **CONFIGS["tiny"], reduction=r).eval()
    m.head.prenet.always_dropout = False          # deterministic pre-net for the comparison
    tokens, tl, _, _ = _batch()
    frames, lengths, probs = m.generate(tokens, tl, max_frames=140, max_len_ratio=50, use_stop=False)
    assert frames.shape == (2, 80, 140) and lengths.tolist() == [140, 140]
    ref, stop = m.teacher_forced(tokens, frames, tl)
    torch.testing.assert_close(frames, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(probs, torch.sigmoid(stop), rtol=1e-5, atol=1e-6)
    # A prompt is prefilled in one pass; the continuation is the same frames.
    cont, _, _ = m.generate(tokens, tl, prompt=frames[:, :, :8], max_frames=132, max_len_ratio=50, use_stop=False)
    torch.testing.assert_close(cont, frames[:, :, 8:], rtol=1e-5, atol=1e-5)


def test_kv_cache_grows_with_output():
    m = TransformerTTS(vocab_size=20, **CONFIGS["tiny"]).eval()
    tokens, tl, _, _ = _batch()
    memory, mask = m.encode(tokens, tl)
    x = m.head.inputs(torch.zeros(2, 80, 0), with_last=True)
    _, cache = m.prefill(memory, mask, x)
    for t in range(1, 6):
        _, cache = m.step(cache, m.head.embed(torch.zeros(2, 80)), t)
    # Every decoder layer holds keys and values for the 6 frames so far.
    assert cache["n"] == 6
    for t in range(6, 70):                                  # past the first buffer's 64 slots
        _, cache = m.step(cache, m.head.embed(torch.zeros(2, 80)), t)
    assert cache["n"] == 70 and all(c["kv"].shape[3] == 128 for c in cache["layers"])


def test_guided_attention_loss_matches_loop():
    g = torch.Generator().manual_seed(2)
    attn = torch.rand(2, 2, 6, 5, generator=g).softmax(-1)
    tl, dl = torch.tensor([5, 3]), torch.tensor([6, 4])
    total, count = 0.0, 0
    for b in range(2):
        for h in range(2):
            for n in range(int(dl[b])):
                for t in range(int(tl[b])):
                    w = 1 - math.exp(-((n / dl[b].item() - t / tl[b].item()) ** 2) / (2 * 0.4 ** 2))
                    total += attn[b, h, n, t].item() * w
                    count += 1
    torch.testing.assert_close(guided_attention_loss(attn, tl, dl, 0.4), torch.tensor(total / count), rtol=1e-5, atol=1e-7)
    # A diagonal alignment costs less than a uniform one.
    diag = torch.eye(6)[None, None, :, :5].clone() + 1e-6
    diag[..., 5, 4] = 1
    assert guided_attention_loss(diag / diag.sum(-1, keepdim=True), torch.tensor([5]), torch.tensor([6])) < \
        guided_attention_loss(torch.full((1, 1, 6, 5), 0.2), torch.tensor([5]), torch.tensor([6]))


def test_stop_loss_positive_weight():
    logits = torch.tensor([[-1.0, 0.5, 2.0, 0.0], [0.3, -0.2, 0.0, 0.0]])
    lengths = torch.tensor([3, 2])
    ref = []
    for b, L in enumerate(lengths.tolist()):
        for j in range(L):
            y = 1.0 if j == L - 1 else 0.0
            p = torch.sigmoid(logits[b, j])
            ref.append(-(6.0 * y * torch.log(p) + (1 - y) * torch.log(1 - p)))
    torch.testing.assert_close(stop_loss(logits, lengths, 6.0), torch.stack(ref).mean())


def test_stop_rule_and_length_cap():
    m = TransformerTTS(vocab_size=20, **CONFIGS["tiny"], reduction=2).eval()
    tokens, tl, _, _ = _batch()
    with torch.no_grad():
        m.head.stop_out.bias.fill_(50.0)                     # p(stop) ~ 1 on every frame
    _, lengths = m.synthesize(tokens, tl, min_frames=3)
    assert lengths.tolist() == [3, 3]
    with torch.no_grad():
        m.head.stop_out.bias.fill_(-50.0)                    # never stops: the ratio caps it
    _, lengths = m.synthesize(tokens, tl, max_len_ratio=2.0)
    assert lengths.tolist() == [14, 10]


def test_overfits_two_utterances():
    torch.manual_seed(0)
    tokens, tl, _, _ = _batch(T=10)
    t = torch.arange(48.0)
    mel = torch.stack([torch.sin(t[None] / (3 + i) + torch.arange(80.0)[:, None] / 7) for i in range(2)]) * 2 - 5
    ml = torch.tensor([48, 40])
    m = TransformerTTS(vocab_size=20, **CONFIGS["tiny"], mel_mean=-5, mel_std=2, dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for i in range(120):
        out = m(tokens, tl, mel, ml)
        if i == 0:
            first = {k: v.item() for k, v in out.items()}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert out["mel"].item() < 0.25 * first["mel"] and out["loss"].item() < 0.3 * first["loss"]


def test_save_load_round_trip(tmp_path):
    table = SymbolTable(list("abcdefg"))
    m = TransformerTTS(symbols=table.to_dict(), **CONFIGS["tiny"], reduction=2).eval()
    cfg = {"model": {"name": "transformer_tts", "symbols": table.to_dict(), **CONFIGS["tiny"], "reduction": 2}}
    registry.save_model(m, tmp_path, cfg)
    m2 = registry.load_model(tmp_path)
    assert isinstance(m2, TransformerTTS) and m2.symbols == table and m2.head.r == 2
    tokens = torch.tensor([table.encode("abc fed")])
    m.head.prenet.always_dropout = m2.head.prenet.always_dropout = False
    a, la = m.synthesize(tokens, max_frames=8)
    b, lb = m2.synthesize(tokens, max_frames=8)
    torch.testing.assert_close(a, b)
    assert la.tolist() == lb.tolist()


def test_sinusoids_match_formula():
    pe = sinusoids(5, 8, offset=3)
    pos, i = 6, 2                                   # row 3 is position 6; channels 4, 5 are pair i=2
    assert pe[3, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 8)), abs=1e-6)
    assert pe[3, 2 * i + 1].item() == pytest.approx(math.cos(pos / 10000 ** (2 * i / 8)), abs=1e-6)
    assert F.cosine_similarity(pe[0], sinusoids(4, 8)[3], 0) > 0.999


def test_padded_text_is_ignored():
    """A padded batch item decodes as it does alone (masked pre-net convs and attention)."""
    torch.manual_seed(2)
    m = TransformerTTS(vocab_size=20, **CONFIGS["tiny"]).eval()
    m.head.prenet.always_dropout = False
    tokens, tl, _, _ = _batch()
    frames, _, _ = m.generate(tokens, tl, max_frames=12, use_stop=False)
    alone, _, _ = m.generate(tokens[1:, :5], tl[1:], max_frames=12, use_stop=False)
    torch.testing.assert_close(frames[1:], alone, rtol=1e-5, atol=1e-5)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_prenet_dropout_masks_are_independent(device):
    """The decoder pre-net's dropout is the bottleneck that makes the decoder read the text: a model
    trained under bf16 autocast on CUDA with F.dropout learned to see through its masks (teacher-forced
    loss 0.26 with them, 0.86-0.92 with independent ones). Under autocast, each unit is kept with
    probability 1 - p, independently of its neighbours within and across 8-wide vectors."""
    from audiokit.tts.autoregressive import DecoderPrenet
    torch.manual_seed(0)
    net = DecoderPrenet(80, 64, hidden=128, dropout=0.5).to(device).train()
    seen = []
    net.layers[1].register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    x = torch.randn(8, 400, 80, device=device)
    with torch.autocast(device, dtype=torch.bfloat16):
        alive = torch.relu(net.layers[0](x)) != 0
        net(x)
    kept = seen[0] != 0        # the second layer's input: the first layer's units after dropout
    keep_rate = (kept & alive).sum() / alive.sum()
    assert abs(float(keep_rate) - 0.5) < 0.01
    for off in range(1, 9):      # agreement of two units' masks, where both were non-zero
        b = alive[..., :-off] & alive[..., off:]
        agree = ((kept[..., :-off] == kept[..., off:]) & b).sum() / b.sum()
        assert abs(float(agree) - 0.5) < 0.02, (off, float(agree))
