"""Helpers for worker processes (PESQ pools, parallel scoring)."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """Make this worker exit when the process that started it dies.

    Pool workers block on their task queue; if the parent is killed (SIGKILL, SIGTERM
    without clean-up) they would otherwise live on as orphans holding memory and a core.
    """
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
