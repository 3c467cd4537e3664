#!/usr/bin/env bash
# The wheels a GPU machine without network lacks, at constraints.txt's versions (Python 3.12, manylinux x86_64),
# into .wheels/ (git-ignored; about 45 MB, under the 64 MiB a device command may carry: `run(carry=[".wheels"], ...)`).
#   bash bench/fetch_wheels.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.wheels}"
"${PYTHON:-python}" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    -d "$dest" $(grep -E '^(trl|datasets|bitsandbytes|dill|multiprocess)==' constraints.txt)
du -sh "$dest"
