#!/usr/bin/env bash
# Stage -1: fetch the DNS Challenge 2020 synthetic no-reverb test set (CC BY 4.0) from the
# interspeech2020/master branch of github.com/microsoft/DNS-Challenge into DIR (default:
# downloads/). The audio is in Git LFS: only the test set's files are pulled (~50 MB).
# Needs git and git-lfs. Re-running skips a finished download.
#
# Usage: local/download.sh [DIR]
set -euo pipefail

dir=${1:-downloads}
sub=datasets/test_set/synthetic/no_reverb
repo=$dir/DNS-Challenge
if [ -d "$repo/$sub/clean" ] && [ -n "$(ls -A "$repo/$sub/clean")" ] && ! grep -qs "git-lfs" "$(ls "$repo/$sub/clean"/*.wav | head -n1)"; then
  echo "have $repo/$sub"; exit 0
fi
command -v git-lfs >/dev/null || { echo "$0: needs git-lfs (https://git-lfs.com)" >&2; exit 1; }
mkdir -p "$dir"
if [ ! -d "$repo/.git" ]; then
  GIT_LFS_SKIP_SMUDGE=1 git clone --depth 1 --branch interspeech2020/master \
    https://github.com/microsoft/DNS-Challenge.git "$repo"
fi
git -C "$repo" lfs pull --include "$sub/**"
echo "DNS 2020 no-reverb test set is in $repo/$sub"
