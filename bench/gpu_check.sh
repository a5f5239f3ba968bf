#!/usr/bin/env bash
# Local single-GPU mode on one GPU machine, end to end: the figures and the sweep of the README's "On one GPU".
#
#   bench/gpu_check.sh speed   DATA OUT   # bench/gpu_speed.py: channels_last / autocast, extraction and an epoch
#   bench/gpu_check.sh sharing DATA OUT   # bench/gpu_sharing.py: 1, 4, 8 trials per card, without and with MPS
#   bench/gpu_check.sh sweep   DATA OUT   # sweeps/matrix.py --local, budget gpu_check, 4 trials per card,
#                                         # nvidia-smi sampled; then the report and every row's device / accuracy
#
# DATA holds caltech101/ (an ImageFolder) and questions/ (train.csv, test.csv); logs and results go to OUT.
# Environment: TORCH_HOME with torchvision's MobileNetV2 ImageNet file for `sweep` (speed and sharing take random
# weights unless GPU_CHECK_WEIGHTS=imagenet: the work is the same); Ray importable (scripts/offline_ray_bundle.sh
# makes a bundle for machines without a package index). The PyTorch twin stands in for TensorFlow (--frameworks torch).
set -euo pipefail
stage=$1 data=$2 out=$3
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
weights=${GPU_CHECK_WEIGHTS:-random}
mkdir -p "$out"
case $stage in
speed)
    python3 bench/gpu_speed.py --data "$data/caltech101" --weights "$weights" --epochs 3 | tee "$out/gpu_speed.log" ;;
sharing)
    python3 bench/gpu_sharing.py --data "$data" --weights "$weights" --epochs 4 | tee "$out/gpu_sharing.log" ;;
sweep)
    runs=${GPU_CHECK_RUNS:-/tmp/gpu_check_runs}
    # SIGINT after GPU_CHECK_SWEEP_S: the sweep stops cleanly and keeps its finished rows for the report
    python3 bench/gpu_util.py --every-ms 500 --csv "$out/gpu_util.csv" -- \
        timeout -s INT "${GPU_CHECK_SWEEP_S:-420}" python3 sweeps/matrix.py --local --datasets caltech101,questions --models mobilenet_v2,rnn,lstm,gru \
        --methods features_svm,finetune,finetune_aug,recurrent --frameworks torch --data-root "$data" \
        --budget gpu_check --weights imagenet --gpus-per-trial 0.25 --cpus-per-trial 4 \
        --storage "$runs" --sweep-id gpu-check --fresh 2>&1 | tee "$out/sweep.log" || true
    python3 -m analysis "$runs/gpu-check" 2>&1 | tee "$out/analysis.log"
    python3 - "$runs/gpu-check" <<'EOF' | tee "$out/rows.txt"
import sys

from core.results import load_trials

rows = load_trials(sys.argv[1])
columns = ["dataset", "model", "method", "status", "device", "param_mode", "val_acc", "test_acc", "epochs", "wall_s"]
print(rows[[c for c in columns if c in rows]].sort_values(columns[:3]).to_string(index=False))
EOF
    tar -czf "$out/gpu-check.tgz" --exclude tune -C "$runs" gpu-check ;;
*)
    echo "usage: bench/gpu_check.sh speed|sharing|sweep DATA OUT" >&2; exit 2 ;;
esac
