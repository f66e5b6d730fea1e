#!/usr/bin/env bash
# The main job on the built-in mini corpus: generate eSpeak NG speech + procedural noise,
# train a small MP-SENet on the CPU, enhance the test set, print noisy vs enhanced scores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/egs/mini/enh/run.sh" "$@"
echo
echo "Scores (mean ± 95% CI): $root/egs/mini/enh/exp/mpsenet_mini/scores/test/RESULTS.md"
