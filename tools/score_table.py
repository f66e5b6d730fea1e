#!/usr/bin/env python3
"""Side-by-side table of ``audiokit score`` summaries: one row per system, one column per metric.

    tools/score_table.py noisy=exp/x/scores/test/noisy enhanced=exp/x/scores/test/enhanced --out RESULTS.md
"""

import argparse
import json
import sys
from pathlib import Path

from audiokit.fsutil import atomic_open


def table(systems: dict[str, dict]) -> str:
    metrics = list(dict.fromkeys(m for s in systems.values() for m in s))
    lines = ["| system | n | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for name, summ in systems.items():
        n = max((v.get("n", 0) for v in summ.values()), default=0)
        cells = []
        for m in metrics:
            v = summ.get(m)
            cells.append("" if not v or v.get("mean") is None else f"{v['mean']:.3f} ± {v['ci95']:.3f}")
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("systems", nargs="+", help="label=score_dir (holding summary.json)")
    p.add_argument("--out", help="also write the table here (markdown)")
    a = p.parse_args(argv)
    systems = {}
    for item in a.systems:
        label, _, d = item.partition("=")
        if not d:
            p.error(f"expected label=dir, got {item!r}")
        path = Path(d) / "summary.json"
        if not path.is_file():
            print(f"score_table: {path} not found", file=sys.stderr)
            return 2
        systems[label] = json.loads(path.read_text())
    text = table(systems)
    print(text)
    if a.out:
        with atomic_open(a.out) as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
