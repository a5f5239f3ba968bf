#!/usr/bin/env bash
# A slim, compressed Ray (plus the few packages it needs that a CUDA PyTorch image usually lacks) for a GPU machine
# with no package index: run it where pip can reach one, carry the .tar.xz over, unpack it and put it on PYTHONPATH.
#
#   scripts/offline_ray_bundle.sh [OUT.tar.xz] [PYTHON_VERSION]     (defaults: ray-bundle.tar.xz, 3.12)
#   # there:  mkdir -p /tmp/site && xz -dc ray-bundle.tar.xz | tar -x -C /tmp/site && export PYTHONPATH=/tmp/site
#
# Ray's wheel is ~79 MB; the Java jars, the dashboard's web client, RLlib, Serve and the test suites are not used by
# Tune trials (the harness starts Ray with include_dashboard=False), and the three native binaries ship with
# symbols: without them the bundle is ~28 MB. Versions are the project's own (pyproject.toml's ray pin).
set -euo pipefail
out=$(realpath -m "${1:-ray-bundle.tar.xz}")
py=${2:-3.12}
ray_version=$(grep -oE 'ray\[[a-z,]+\]==[0-9.]+' "$(dirname "$0")/../pyproject.toml" | head -1 | cut -d= -f3)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# what Ray and Tune import beyond a CUDA PyTorch image (which has numpy, pandas, pyarrow, aiohttp, grpcio, msgpack,
# protobuf, pyyaml, requests, click, filelock, fsspec): jsonschema's family, pydantic's (ray.train), tensorboardX
wanted="ray==$ray_version jsonschema referencing jsonschema-specifications rpds-py pydantic pydantic-core
        annotated-types typing-inspection typing-extensions tensorboardX"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$work/wheels" $wanted
mkdir "$work/site"
for wheel in "$work"/wheels/*.whl; do
    (cd "$work/site" && python3 -m zipfile -e "$wheel" .)
done
cd "$work/site"
rm -rf ray/jars ray/dashboard/client/build ray/rllib ray/serve ray/tests ray/*/tests
find . -name "*.js.map" -delete
chmod +x ray/core/src/ray/gcs/gcs_server ray/core/src/ray/raylet/raylet  # zipfile drops the exec bit
strip --strip-unneeded ray/_raylet.so ray/core/src/ray/gcs/gcs_server ray/core/src/ray/raylet/raylet
tar -cf - . | xz -T0 -6 > "$out"
echo "$out: $(du -h "$out" | cut -f1) (ray $ray_version, python $py)"
