import torch

from audiokit.nn.norm import RMSNorm


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
