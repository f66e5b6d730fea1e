#!/usr/bin/env bash
# Stage -1: download and unpack LJSpeech-1.1 (Keith Ito & Linda Johnson, 2017, public
# domain) from keithito.com into DIR (default: downloads/) -> DIR/LJSpeech-1.1/{wavs,metadata.csv}.
# About 2.6 GB; needs wget or curl, and tar. Re-running skips a finished download.
#
# Usage: local/download.sh [DIR]
set -euo pipefail

dir=${1:-downloads}
url=https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2
mkdir -p "$dir"
if [ -f "$dir/LJSpeech-1.1/metadata.csv" ]; then echo "have $dir/LJSpeech-1.1"; exit 0; fi
tarball="$dir/LJSpeech-1.1.tar.bz2"
if [ ! -f "$tarball" ]; then
  echo "downloading $url"
  if command -v wget >/dev/null; then
    wget -c -q --show-progress -O "$tarball.part" "$url"
  else
    curl -fL -C - -o "$tarball.part" "$url"
  fi
  mv "$tarball.part" "$tarball"
fi
echo "unpacking $tarball"
tar -xjf "$tarball" -C "$dir"
echo "LJSpeech-1.1 is in $dir/LJSpeech-1.1"
