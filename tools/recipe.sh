# Shared by every egs/*/*/run.sh (sourced, not run): option parsing, stage gating, Python.
#
# A recipe sets its defaults as shell variables, then sources this file, which
#   - turns "--name value" arguments into name=value for variables already defined
#     (so a typo is an error, not a silently ignored option), "--name=value" too;
#   - defines stage N "description": true when N is within [stage, stop_stage];
#   - picks the Python: $PYTHON, else the repository's .venv, else python3 on PATH.
# Python programs get their own settings through Hydra overrides, so no default is
# written twice: the YAML files under recipes/<task>/conf/ are the only source.

stage=${stage:-0}
stop_stage=${stop_stage:-100}
ngpu=${ngpu:-0}

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "usage: $0 [--stage N] [--stop_stage M] [--ngpu K] [--<variable> VALUE ...]"
      sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
      exit 0 ;;
    --*=*) _name=${1%%=*}; _value=${1#*=}; shift ;;
    --*) _name=$1; [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 2; }; _value=$2; shift 2 ;;
    *) echo "$0: unexpected argument '$1' (options are --name value)" >&2; exit 2 ;;
  esac
  _name=${_name#--}; _name=${_name//-/_}
  if ! declare -p "$_name" >/dev/null 2>&1; then
    echo "$0: unknown option --$_name" >&2; exit 2
  fi
  printf -v "$_name" '%s' "$_value"
done

AUDIOKIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$AUDIOKIT_ROOT/.venv/bin/python" ]; then PYTHON="$AUDIOKIT_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHON AUDIOKIT_ROOT PYTHONUNBUFFERED=1

stage() {  # stage N "what it does"
  if [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ]; then
    echo "=== stage $1: $2 ($(date '+%H:%M:%S'))"
    return 0
  fi
  return 1
}

# Launch a Python training program on $ngpu GPUs (torchrun for more than one).
launch() {
  if [ "$ngpu" -gt 1 ]; then
    "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$ngpu" "$@"
  else
    "$PYTHON" "$@"
  fi
}
