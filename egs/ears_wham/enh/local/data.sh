#!/usr/bin/env bash
set -euo pipefail
"$PYTHON" local/data.py "$@"
