"""MambAttention: published size against a layer-by-layer count, shared attention, the
time-reversed Mamba branch against a step-by-step loop, shapes, enhance(), the linear-attention
switch, save/load, and training through EnhancementTask's train_step."""

import math
from pathlib import Path

import pytest
import torch
import yaml

from audiokit.audio import load
from audiokit.enh.mambattention import MambAttention, MambAttentionBlock
from audiokit.enh.mpsenet import MPSENet
from audiokit.enh.task import EnhancementTask
from audiokit.frontend.stft import mag_pha_stft
from audiokit.nn.attention import MultiHeadAttention
from audiokit.nn.mamba import BiMamba, MambaState
from audiokit.registry import build_model, load_model, save_model

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "../shared/data"
CONF = ROOT / "recipes/enh/conf"
# Far smaller than the mini config: the chunked CPU scan dominates the run time.
TINY = dict(dense_channel=8, num_blocks=1, num_heads=2, d_state=4, expand=2, dense_depth=2)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MambAttention(**TINY).eval()


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def mamba_count(k, d_state=16, d_conv=4, expand=4):
    e, r = expand * k, math.ceil(k / 16)
    return (k * 2 * e + e * d_conv + e + e * (r + 2 * d_state) + r * e + e + e * d_state + e + e * k)


def block_count(k, **mamba):
    mha = 4 * k * k + 4 * k                        # in/out projections with biases
    layer_norm = 2 * k
    bimamba = 2 * (mamba_count(k, **mamba) + k)    # two directions, each with an RMSNorm weight
    tconv = 2 * k * k + k                          # 1x1 transposed conv 2K -> K
    return mha + layer_norm + 2 * bimamba + 2 * tconv  # time and frequency Mamba, ONE attention


def test_published_size_layer_by_layer():
    model = MambAttention()
    mp = MPSENet()
    enc_dec = n_params(mp) - n_params(mp.blocks)   # the reused encoder and decoders
    assert n_params(model) == enc_dec + 4 * block_count(64) == 2_325_841
    assert abs(n_params(model) - 2.33e6) / 2.33e6 < 0.01
    assert model.sample_rate == 16000 and model.stft.n_fft == 400


def test_yaml_configs_build_the_model():
    for name, count in (("mambattention", 2_325_841), ("mambattention_mini", None)):
        cfg = yaml.safe_load((CONF / "model" / f"{name}.yaml").read_text())
        model = build_model(cfg)
        assert isinstance(model, MambAttention) and model.time_attention == "softmax"
        if count:
            assert n_params(model) == count
    mini = build_model(yaml.safe_load((CONF / "model/mambattention_mini.yaml").read_text()))
    enc_dec = n_params(MPSENet(dense_channel=16, num_tsblocks=1)) - n_params(
        MPSENet(dense_channel=16, num_tsblocks=1).blocks)
    assert n_params(mini) == enc_dec + 2 * block_count(16, d_state=8, expand=2) == 97_905
    optim = yaml.safe_load((CONF / "optim/mambattention.yaml").read_text())
    assert optim["generator"]["lr"] == 5e-4 and optim["generator"]["betas"] == [0.8, 0.99]


@pytest.mark.parametrize("time_attention", ["softmax", "linear"])
def test_attention_is_shared_between_time_and_frequency(time_attention):
    torch.manual_seed(0)
    block = MambAttentionBlock(8, 2, d_state=4, expand=2, time_attention=time_attention)
    names = [n for n, _ in block.named_parameters() if "attention" in n]
    attn = block.attention
    # one attention and one layer norm, registered once
    assert sum(p.numel() for n, p in block.named_parameters() if "attention" in n) == n_params(attn)
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in block.modules()) == 1
    seen = []
    proj = attn.attn.qkv if time_attention == "linear" else attn.attn
    hooks = [proj.register_forward_hook(lambda m, i, o: seen.append(("attn", tuple(i[0].shape)))),
             attn.norm.register_forward_hook(lambda m, i, o: seen.append(("norm", tuple(i[0].shape))))]
    b, t, f = 2, 5, 7
    block(torch.randn(b, 8, t, f))
    for h in hooks:
        h.remove()
    assert sorted(seen) == sorted([("norm", (b * f, t, 8)), ("attn", (b * f, t, 8)),
                                   ("norm", (b * t, f, 8)), ("attn", (b * t, f, 8))]), (seen, names)
    if time_attention == "linear":
        assert isinstance(attn.attn, MultiHeadAttention) and attn.attn.kind == "linear"
        assert not attn.attn.causal and attn.attn.log_decay is not None


def naive_bimamba(bm: BiMamba, x):
    """Both directions with Mamba.step, one position at a time (the recurrent definition)."""
    def run(mixer, norm, seq):
        state, ys = MambaState(*(s.to(seq.dtype) for s in mixer.init_state(seq.shape[0]))), []
        for t in range(seq.shape[1]):
            y, state = mixer.step(norm(seq[:, t]), state)
            ys.append(seq[:, t] + y)
        return torch.stack(ys, 1)
    fwd = run(bm.fwd, bm.fwd_norm, x)
    bwd = run(bm.bwd, bm.bwd_norm, x.flip(1)).flip(1)
    return torch.cat([fwd, bwd], -1)


def test_bimamba_concat_matches_step_loop_and_reverses_time():
    torch.manual_seed(0)
    k = 8
    bm = BiMamba(k, merge="concat", norm="rms", d_state=4, expand=2).double()
    x = torch.randn(3, 11, k, dtype=torch.float64)
    y = bm(x)
    assert y.shape == (3, 11, 2 * k)
    torch.testing.assert_close(y, naive_bimamba(bm, x))
    # Reversing time and swapping the two directions' weights reverses the output with its
    # halves swapped: the second half really is the time-reversed branch.
    swapped = BiMamba(k, merge="concat", norm="rms", d_state=4, expand=2).double()
    sd = {(n.replace("fwd", "tmp").replace("bwd", "fwd").replace("tmp", "bwd")): v
          for n, v in bm.state_dict().items()}
    swapped.load_state_dict(sd)
    torch.testing.assert_close(swapped(x.flip(1)).flip(1), torch.cat([y[..., k:], y[..., :k]], -1))
    # and the backward half at position t depends on the future, not the past
    x2 = x.clone()
    x2[:, 7:] += 1
    y2 = bm(x2)
    assert torch.equal(y2[:, :7, :k], y[:, :7, :k]) and not torch.allclose(y2[:, :7, k:], y[:, :7, k:])


@pytest.mark.parametrize("length", [401, 1233])
def test_forward_shapes_odd_lengths(tiny, length):
    mag, pha, _ = mag_pha_stft(torch.randn(2, length))
    with torch.no_grad():
        m, p, c = tiny(mag, pha)
    assert m.shape == p.shape == mag.shape and c.shape == (*mag.shape, 2)
    assert torch.isfinite(c).all() and p.abs().max() <= torch.pi
    assert (m >= 0).all() and (m <= 2.0 * mag + 1e-6).all()


@pytest.mark.parametrize("shape", [(399,), (1601,), (2, 801)])
def test_enhance_keeps_length(tiny, shape):
    wav = torch.randn(*shape) * 0.1
    out = tiny.enhance(wav)
    assert out.shape == wav.shape and torch.isfinite(out).all()
    # RMS normalisation as in MP-SENet: gain passes straight through (a power of two keeps
    # the normalised input bit-identical; the wrapped phase input is chaotic at tiny bins)
    torch.testing.assert_close(tiny.enhance(wav * 4), out * 4, rtol=1e-6, atol=1e-7)


def test_linear_time_attention_builds_and_runs():
    torch.manual_seed(0)
    model = MambAttention(**TINY, time_attention="linear").eval()
    assert abs(n_params(model) - n_params(MambAttention(**TINY))) < 0.01 * n_params(model)
    wav = torch.randn(2, 801) * 0.1
    out = model.enhance(wav)
    assert out.shape == wav.shape and torch.isfinite(out).all()
    model.train()
    mag, pha, _ = mag_pha_stft(wav)
    model(mag, pha)[2].square().mean().backward()
    assert model.blocks[0].attention.attn.qkv.weight.grad.abs().sum() > 0


def test_bad_arguments_are_rejected(tiny):
    with pytest.raises(ValueError, match="time_attention"):
        MambAttention(**TINY, time_attention="gla")
    with pytest.raises(ValueError, match="divisible"):
        MambAttention(dense_channel=12, num_heads=8)
    with pytest.raises(ValueError, match="num_blocks"):
        MambAttention(num_blocks=0)
    with pytest.raises(ValueError, match="frequency bins"):
        tiny(torch.rand(1, 200, 10), torch.rand(1, 200, 10))


def test_registry_save_load_roundtrip(tmp_path, tiny):
    save_model(tiny, tmp_path / "m", {"model": {"name": "mambattention", **TINY}})
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, MambAttention)
    wav = torch.randn(2, 1201) * 0.1
    torch.testing.assert_close(loaded.enhance(wav), tiny.enhance(wav))


def noisy_clean_batch(n_samples=4000, snr_db=5.0):
    speech, sr = load(SHARED / "speechbrain_samples/speech/separation_source1_0.wav")
    noise, _ = load(SHARED / "speechbrain_samples/noise/noise_noise2.wav")
    s, n = speech[8000:8000 + n_samples], noise[:n_samples]
    noisy = s + n * (s.norm() / n.norm()) * 10 ** (-snr_db / 20)
    return {"noisy": noisy[None], "clean": s[None], "lengths": torch.tensor([n_samples])}


def test_trains_through_enhancement_task():
    torch.manual_seed(0)
    weights = dict(metric=0.05, magnitude=0.9, phase=0.3, complex=0.2, time=0.2, consistency=0.2)
    task = EnhancementTask({"name": "mambattention", **TINY}, loss=weights, pesq_workers=1)
    task.to(torch.device("cpu"))
    opts = {name: torch.optim.AdamW(m.parameters(), 5e-3, betas=(0.8, 0.99))
            for name, m in task.modules().items()}
    before = {n: p.detach().clone() for n, p in task.generator.named_parameters()}

    def update(name, loss):  # the trainer's update without AMP/DDP
        opts[name].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.modules()[name].parameters(), float("inf"))
        opts[name].step()
        opts[name].zero_grad(set_to_none=True)
        return True

    batch = noisy_clean_batch()
    try:
        logs = [task.train_step(batch, update) for _ in range(2)]
    finally:
        task.close()
    assert all(math.isfinite(v) for log in logs for v in log.values())
    assert "d_loss" in logs[0] and "pesq_train" in logs[0]
    moved = {n for n, p in task.generator.named_parameters() if not torch.equal(p, before[n])}
    for name in ("blocks.0.attention.attn.in_proj_weight", "blocks.0.time_mamba.bwd.A_log",
                 "blocks.0.freq_mamba.fwd_norm.weight", "blocks.0.freq_proj.weight"):
        assert name in moved
    assert logs[1]["g_loss"] < logs[0]["g_loss"], logs   # same batch twice: the step helped


# --- long recordings: the tiled one-pass forward, and streaming of the causal backbone ---

def test_tiled_forward_equals_plain_forward():
    """Exact tiling: time tiles with a halo + global InstanceNorm statistics, backbone rows in groups.
    Oracle: MP-SENet's plain forward on the same weights (float64, so only rounding differs)."""
    torch.manual_seed(0)
    model = MambAttention(**TINY, time_attention="linear").double().eval()
    model.max_elements = 4000          # several row groups in both passes
    mag, pha, _ = mag_pha_stft(torch.randn(2, 100 * 30, dtype=torch.float64))
    with torch.no_grad():
        ref = MPSENet.forward(model, mag, pha)
        model.tile_frames = 8          # 4 tiles (31 frames), each widened by the encoder's halo of 3
        out = model(mag, pha)          # no grad and T > tile_frames: the tiled path
    torch.testing.assert_close(out[0], ref[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(out[1], ref[1], rtol=0, atol=1e-5)     # atan2 runs in float32
    torch.testing.assert_close(out[2], ref[2], rtol=0, atol=1e-5)


def test_tiled_forward_is_not_used_with_gradients():
    torch.manual_seed(0)
    model = MambAttention(**TINY)
    model.tile_frames = 5
    mag, pha, _ = mag_pha_stft(torch.randn(1, 1601))
    model(mag, pha)[0].sum().backward()              # plain path: differentiable
    assert model.encoder.conv_in[0].weight.grad is not None


def test_causal_linear_attention_state_matches_the_attention_module():
    """The stateful time pass is MultiHeadAttention's causal linear branch with the state exposed."""
    torch.manual_seed(0)
    block = MambAttentionBlock(8, 2, d_state=4, expand=2, time_attention="linear", causal=True).double()
    att = block.attention
    assert att.attn.causal and not att.attn.use_rotary
    x = torch.randn(3, 20, 8, dtype=torch.float64)
    y, _ = att(x, "time", return_state=True)
    torch.testing.assert_close(y, att.attn(att.norm(x)))


@pytest.mark.parametrize("cuts", [(7, 8, 30), (1, 2, 3, 49)], ids=["uneven", "single-frames"])
def test_causal_backbone_streams_exactly(cuts):
    """Chunk by chunk with the carried linear-attention and Mamba conv/SSM states equals one pass."""
    torch.manual_seed(0)
    model = MambAttention(**TINY, time_attention="linear", causal=True).double().eval()
    x = torch.randn(2, 8, 50, 13, dtype=torch.float64)
    with torch.no_grad():
        full = model.backbone(x)
        outs, states = [], None
        for a, b in zip((0, *cuts), (*cuts, 50)):
            y, states = model.backbone(x[:, :, a:b], states, return_state=True)
            outs.append(y)
        # causal: changing the future leaves the past alone
        x2 = x.clone()
        x2[:, :, 30:] += 1
        past = model.backbone(x2)[:, :, :30]
    torch.testing.assert_close(torch.cat(outs, 2), full, rtol=0, atol=1e-12)
    assert torch.equal(past, full[:, :, :30])
    assert len(states) == 1 and states[0].attn.shape == (2 * 13, 2, 4, 4)
    assert states[0].mamba.ssm.shape == (2 * 13, 16, 4)


def test_bidirectional_backbone_refuses_state():
    model = MambAttention(**TINY, time_attention="linear")
    with pytest.raises(ValueError, match="causal=True"):
        model.backbone(torch.randn(1, 8, 5, 13), return_state=True)
    with pytest.raises(ValueError, match="causal=True needs"):
        MambAttention(**TINY, causal=True)


def test_linear_in_time_flag():
    assert not MambAttention(**TINY).linear_in_time
    assert MambAttention(**TINY, time_attention="linear").linear_in_time
    assert not getattr(MPSENet(dense_channel=8, num_tsblocks=1), "linear_in_time", False)
