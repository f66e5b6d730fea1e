"""Shared preamble of the Triton case files: interpreter fix-up, device choice, skip rule.

Import it before any kernel module: the interpreter patch must be in place first.
"""
import os

import pytest
import torch

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
if INTERPRET:
    # Triton 3.6's interpreter calls int() on 1-element arrays for runtime loop bounds, which
    # NumPy >= 2.3 refuses; index the element instead (interpreter only, no effect on GPU runs).
    import triton.runtime.interpreter as _interp

    _orig_patch = _interp._patch_lang_tensor

    def _patch_lang_tensor(tensor, scope):
        _orig_patch(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    _interp._patch_lang_tensor = _patch_lang_tensor

DEVICE = "cuda" if torch.cuda.is_available() and not INTERPRET else "cpu"
if DEVICE == "cpu" and not INTERPRET:
    pytest.skip("needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)
