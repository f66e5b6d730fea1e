"""Run an egs recipe in a temporary copy, with the repository's tools/ and recipes/ beside it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_recipe(tmp_path: Path, dataset: str, task: str = "enh") -> Path:
    """Copy ``egs/<dataset>/<task>`` (run.sh and local/) into tmp_path, keeping the relative layout."""
    for top in ("tools", "recipes"):
        if not (tmp_path / top).exists():
            (tmp_path / top).symlink_to(ROOT / top)
    src = ROOT / "egs" / dataset / task
    d = tmp_path / "egs" / dataset / task
    (d / "local").mkdir(parents=True)
    for f in [src / "run.sh", *sorted((src / "local").iterdir())]:
        dst = d / f.relative_to(src)
        dst.write_bytes(f.read_bytes())
        dst.chmod(0o755)
    return d


def run(d: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``bash run.sh ARGS`` in the copy, with this interpreter as the recipe's Python."""
    return subprocess.run(["bash", "run.sh", *args], cwd=d, env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=timeout)
