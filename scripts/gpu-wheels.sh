#!/usr/bin/env bash
# Downloads bench/gpu-wheels.txt as Python 3.12 manylinux x86-64 wheels into a folder (default .gpu-wheels)
# for bench/gpu.sh on a GPU machine without network, and checks that they and the working tree fit the
# 64 MiB a device run carries.
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-.gpu-wheels}"
limit=$((64 * 1024 * 1024))
rm -rf "$folder"
mkdir -p "$folder"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$folder" -r bench/gpu-wheels.txt
wheels=$(du -cb "$folder"/*.whl | tail -1 | cut -f1)
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "$(ls "$folder"/*.whl | wc -l) wheels in $folder: $((wheels / 1024)) KiB; working tree $((tree / 1024)) KiB;" \
     "together $(((wheels + tree) / 1024)) KiB of $((limit / 1024)) KiB"
if ((wheels + tree > limit)); then
    echo "error: $folder and the working tree exceed the 64 MiB a device run carries" >&2
    exit 1
fi
