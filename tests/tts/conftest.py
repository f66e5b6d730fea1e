"""Stand-in for audiokit.kernels.mas while it is not there: a plain O(T_text * T_mel) DP."""
import pytest
import torch


def naive_mas(value, text_lengths, mel_lengths):
    """Glow-TTS Algorithm 1, one utterance at a time in Python (the independent reference)."""
    B, Tt, Tm = value.shape
    path = torch.zeros(B, Tt, Tm, dtype=value.dtype)
    neg = float("-inf")
    for b in range(B):
        n, m = int(text_lengths[b]), int(mel_lengths[b])
        v = value[b, :n, :m].double().tolist()
        Q = [[neg] * m for _ in range(n)]
        for j in range(m):
            for i in range(min(n, j + 1)):
                if j == 0:
                    Q[i][j] = v[i][j] if i == 0 else neg
                    continue
                stay = Q[i][j - 1]
                move = Q[i - 1][j - 1] if i > 0 else neg
                Q[i][j] = max(stay, move) + v[i][j]
        i = n - 1
        for j in range(m - 1, -1, -1):
            path[b, i, j] = 1
            if i > 0 and (i == j or Q[i - 1][j - 1] >= Q[i][j - 1]):
                i -= 1
    return path.to(value.device)


@pytest.fixture
def mas(monkeypatch):
    """Use the kernel when it exists, else the naive DP above."""
    try:
        import audiokit.kernels.mas as kernel
        kernel.monotonic_alignment_search
    except (ImportError, AttributeError):
        from audiokit.tts import alignment
        monkeypatch.setattr(alignment, "maximum_path", naive_mas)
    return naive_mas
