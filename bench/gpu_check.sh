#!/usr/bin/env bash
# The prepared GPU check in one command (at most 9 minutes): every part of bench/gpu_check.py.
#   bash bench/gpu_check.sh [--cpu]        results in $OUT (else bench/gpu_check/)
# A machine without trl/datasets/bitsandbytes installs them from .wheels/ (bench/fetch_wheels.sh fills it;
# it travels with the working tree) into /tmp/site, without network. $PYTHON: the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
if ! "$PYTHON" -c "import trl, datasets, bitsandbytes" 2>/dev/null; then
    ls .wheels/*.whl > /dev/null || { echo "trl/datasets/bitsandbytes missing and no .wheels/: run bench/fetch_wheels.sh"; exit 2; }
    "$PYTHON" -m pip install --quiet --no-index --no-deps --target /tmp/site .wheels/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRL_EXPERIMENTAL_SILENCE=1
exec "$PYTHON" -m bench.gpu_check "$@"
