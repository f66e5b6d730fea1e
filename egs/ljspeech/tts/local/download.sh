#!/usr/bin/env bash
# Stage -1: LJSpeech-1.1 into DIR (default downloads/), as the vocoder recipe fetches it.
set -euo pipefail
exec ../voc/local/download.sh "$@"
