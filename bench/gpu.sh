#!/usr/bin/env bash
# The GPU path measured in one command (bench/gpu.py says what it runs), on a machine without network.
#
#   bench/gpu.sh [--wheels DIR] [--cpu] [--budget SECONDS] [--out FILE]
#
# --wheels DIR: wheels made here by `make gpu-wheels` (Python 3.12, manylinux x86-64), installed into a
#   private folder (never into the machine's Python) and put first on PYTHONPATH.
# --cpu: the dry run on this CPU, tiny sizes, with the project's .venv (jax installed by `make dev`).
# The Keras backend is JAX; JAX allocates GPU memory as needed (no 75 % preallocation), so the peaks
# reported are what each process used.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="" cpu=0 args=()
while (($#)); do
    case "$1" in
        --wheels) wheels="$2"; shift 2 ;;
        --cpu) cpu=1; args+=("$1"); shift ;;
        -h|--help) sed -n '2,10p' "$0"; exec python3 bench/gpu.py --help ;;
        *) args+=("$1"); shift ;;
    esac
done
python=python3
if ((cpu)) && [[ -x .venv/bin/python ]]; then python=.venv/bin/python; fi
if [[ -n "$wheels" ]]; then
    [[ -d "$wheels" ]] || { echo "error: --wheels $wheels: no such folder (make gpu-wheels makes it)" >&2; exit 2; }
    site="${TMPDIR:-/tmp}/dfu-gpu-site"
    rm -rf "$site"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
if ((cpu)); then export CUDA_VISIBLE_DEVICES="" JAX_PLATFORMS=cpu; fi
exec "$python" bench/gpu.py "${args[@]}"
