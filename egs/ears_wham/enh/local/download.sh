#!/usr/bin/env bash
# Stage -1: build EARS-WHAM v2 in DIR (default: downloads/) with the corpus authors' own
# scripts (github.com/sp-uhh/ears_benchmark, pinned below; CC BY-NC 4.0): they download
# EARS (107 speakers, ~100 GB at 48 kHz) and WHAM!48kHz, then mix with a fixed seed.
# Needs git, wget, unzip and the Python packages of that repository's requirements.txt.
#
# Usage: local/download.sh [DIR]
set -euo pipefail

dir=${1:-downloads}
commit=55dc6ba  # "set seed before test set generation" (the v2 test set)
if [ -d "$dir/EARS-WHAM/test/noisy" ]; then echo "have $dir/EARS-WHAM"; exit 0; fi
mkdir -p "$dir"
if [ ! -d "$dir/ears_benchmark/.git" ]; then
  git clone https://github.com/sp-uhh/ears_benchmark.git "$dir/ears_benchmark"
fi
git -C "$dir/ears_benchmark" checkout -q "$commit"
bash "$dir/ears_benchmark/download_ears_wham.sh" "$dir"
# generate_ears_wham.py reads test_files.json from its working directory
(cd "$dir/ears_benchmark" && "${PYTHON:-python3}" generate_ears_wham.py --data_dir "$(cd .. && pwd)" --copy_clean)
echo "EARS-WHAM is in $dir/EARS-WHAM"
