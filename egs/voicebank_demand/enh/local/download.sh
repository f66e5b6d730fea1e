#!/usr/bin/env bash
# Stage -1: download and unzip VoiceBank+DEMAND (Valentini-Botinhao, 2017, Edinburgh
# DataShare, DOI 10.7488/ds/2117, CC BY 4.0) into DIR (default: downloads/).
# About 2.7 GB of zip files; needs wget or curl, and unzip. Re-running skips finished files.
#
# Usage: local/download.sh [DIR]
set -euo pipefail

dir=${1:-downloads}
base=https://datashare.ed.ac.uk/bitstream/handle/10283/2791
files="clean_trainset_28spk_wav.zip noisy_trainset_28spk_wav.zip clean_testset_wav.zip
noisy_testset_wav.zip trainset_28spk_txt.zip testset_txt.zip"

mkdir -p "$dir"
fetch() {  # url out: resumable, fails on HTTP errors
  if command -v wget >/dev/null; then
    wget -c -q --show-progress -O "$2.part" "$1"
  else
    curl -fL -C - -o "$2.part" "$1"
  fi
  mv "$2.part" "$2"
}

for f in $files; do
  zip="$dir/$f"
  folder="$dir/${f%.zip}"
  if [ -d "$folder" ] && [ -n "$(ls -A "$folder")" ]; then
    echo "have $folder"
    continue
  fi
  [ -f "$zip" ] || { echo "downloading $f"; fetch "$base/$f" "$zip"; }
  echo "unzipping $f"
  unzip -q -o "$zip" -d "$dir"
  # some archive versions unpack a macOS __MACOSX folder beside the data
  rm -rf "$dir/__MACOSX"
done
[ -f "$dir/LICENSE.txt" ] || fetch "$base/license_text" "$dir/LICENSE.txt" || true
echo "VoiceBank+DEMAND is in $dir"
