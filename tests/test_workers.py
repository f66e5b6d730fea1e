"""Pool workers die with their parent instead of lingering as orphans."""

import os
import signal
import subprocess
import sys
import time

PARENT = r"""
import sys, time
from audiokit.enh.metric_discriminator import PesqPool
if __name__ == "__main__":
    pool = PesqPool(16000, workers=1)
    import torch
    pool(torch.zeros(1, 16000), torch.zeros(1, 16000))   # starts the worker
    print(*[p.pid for p in pool._pool._processes.values()], flush=True)
    time.sleep(60)
"""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_pesq_workers_exit_when_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert pids and all(alive(p) for p in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)
