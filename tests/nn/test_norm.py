import torch

from audiokit.nn.norm import LayerNorm, RMSNorm


def test_rmsnorm_matches_torch_and_runs_in_the_input_dtype():
    torch.manual_seed(0)
    ours = RMSNorm(16, eps=1e-5)
    ours.weight.data.uniform_(0.5, 1.5)
    ref = torch.nn.RMSNorm(16, eps=1e-5)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 7, 16)
    torch.testing.assert_close(ours(x), ref(x))
    # half input with the fp32 weight (what autocast hands it): result in the input dtype, close to fp32
    xb = x.bfloat16()
    yb = ours(xb)
    assert yb.dtype == torch.bfloat16
    torch.testing.assert_close(yb.float(), ref(xb.float()), rtol=2e-2, atol=2e-2)


def test_layernorm_matches_torch_and_keeps_half_inputs_half_under_autocast():
    torch.manual_seed(0)
    ours = LayerNorm(16)
    ours.weight.data.uniform_(0.5, 1.5)
    ours.bias.data.uniform_(-0.5, 0.5)
    ref = torch.nn.LayerNorm(16)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 7, 16)
    torch.testing.assert_close(ours(x), ref(x))
    xb = x.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yb = ours(xb)
    assert yb.dtype == torch.bfloat16       # (CUDA autocast would widen nn.LayerNorm's output to fp32)
    torch.testing.assert_close(yb.float(), ref(xb.float()), rtol=2e-2, atol=2e-2)

