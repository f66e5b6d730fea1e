"""audiokit: speech enhancement, synthesis and evaluation in PyTorch."""

__version__ = "0.1.0"


def load_model(path, map_location="cpu"):
    """Rebuild a trained model from its directory (``config.yaml`` + ``model.safetensors``).

    See :func:`audiokit.registry.load_model`.
    """
    from audiokit.registry import load_model as _load

    return _load(path, map_location=map_location)
