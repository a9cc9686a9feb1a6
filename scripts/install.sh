#!/usr/bin/env bash
# Install the project, editable, into a virtual environment: scripts/install.sh VENV SPEC (SPEC: "." or ".[dev]").
#
# With uv when it can be had (pip installs it into the venv): on a fresh machine uv puts TensorFlow and
# the rest in ~55 s where pip takes ~2.5 min, a sixth of `make test`'s budget. Where uv cannot be had or
# fails (no network to fetch it, an index only pip's configuration knows), plain pip does the install.
# --compile-bytecode: pip compiles at install time, uv does not, and where PYTHONDONTWRITEBYTECODE is set
# (CI machines here) nothing is ever cached after: every worker and CLI process would compile TensorFlow's
# and Keras' modules again at import (a fresh-clone `make test` without it: 18.5 min, pytest 1077 s).
set -euo pipefail

venv=$1
spec=$2
python="$venv/bin/python"

if "$venv/bin/pip" install -q --disable-pip-version-check uv 2>/dev/null \
  && "$venv/bin/uv" pip install -q --compile-bytecode --python "$python" -e "$spec"; then
  exit 0
fi
echo "uv unavailable or failed: installing with pip" >&2
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -e "$spec"
