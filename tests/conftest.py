"""Suite-wide fixtures."""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    # Each test sees the same random numbers whatever ran before it, so a tolerance that
    # passes alone passes in the full suite too.
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """One intra-op thread: small models run faster so on 2 cores, and timings stop depending on load."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
