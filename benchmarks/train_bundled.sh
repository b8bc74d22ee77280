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
