#!/usr/bin/env bash
# Reproduce the bundled weights zoo/weights/{tsm,tsn}_resnet_tiny.synthetic.safetensors.
#
# Both models: the same narrow ResNet-10 backbone, the same data (the synthetic card's train
# split, seed 0), the same budget and seed; only the temporal shift differs. Each run prints its
# validation top-1 (uniform 8 frames, centre crop) and the sha256 of its weights.
#
#   benchmarks/train_bundled.sh                 # train both into $TSMBENCH_HOME/train/bundled/
#   INSTALL=1 benchmarks/train_bundled.sh       # ...and copy them into zoo/weights/
#   OUT=/tmp/b THREADS=1 benchmarks/train_bundled.sh
#
# A few minutes per model on 2 CPU cores. The two runs are independent: run them in parallel
# with `MODELS=tsm ...` and `MODELS=tsn ...`.
#
# Runs are deterministic: the dataset is byte-identical from the seed, and with the same THREADS
# the weights are bit-identical (checked twice, the second time with a fresh $TSMBENCH_HOME that
# regenerated the videos). Another thread count changes float summation order, not the result:
#   THREADS=2 MODELS=tsm  -> val top-1 90.42  sha256 73f86c5a...  (the shipped TSM, twice)
#   THREADS=1 MODELS=tsn  -> val top-1 46.25  sha256 9f666a18...  (the shipped TSN, twice)
#   THREADS=2 MODELS=tsn  -> val top-1 45.83  sha256 f56c1ab9...
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-${TSMBENCH_HOME:-$HOME/.cache/tsmbench}/train/bundled}
THREADS=${THREADS:-2}
MODELS=${MODELS:-"tsm tsn"}
for m in $MODELS; do
  args=(--model "${m}_resnet_tiny" --dataset synthetic --segments 8 --epochs 15 --batch-size 16
        --lr 0.02 --momentum 0.9 --weight-decay 5e-4 --warmup-epochs 1 --dropout 0.2 --seed 0
        --cache-frames --threads "$THREADS" --out "$OUT/$m")
  [ -f "$OUT/$m/last.pt" ] && args+=(--resume)
  if [ "${INSTALL:-0}" = 1 ]; then
    args+=(--export "zoo/weights/${m}_resnet_tiny.synthetic.safetensors")
  fi
  python -m tsmbench train "${args[@]}"
done
