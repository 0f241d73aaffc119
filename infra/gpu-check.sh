#!/usr/bin/env bash
# GPU check for a host with an NVIDIA GPU, CUDA 11.2-compatible drivers and internet access:
# installs tfjs-node-gpu (its install script downloads the CUDA build of libtensorflow 2.9.1),
# runs the demo pipeline with training on a GPU worker, and prints the device, images/s and
# test accuracy. It should finish in a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null; then
  echo "nvidia-smi was not found: run this on a host with an NVIDIA GPU and its driver." >&2
  exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv

npm run setup
npm run build
if ! node -e "require('@tensorflow/tfjs-node-gpu')" 2>/dev/null; then
  echo "Installing @tensorflow/tfjs-node-gpu with its install script (downloads libtensorflow for CUDA)."
  npm install --no-save --ignore-scripts=false @tensorflow/tfjs-node-gpu@4.22.0
fi
node -e "const tf = require('@tensorflow/tfjs-node-gpu'); console.log('tfjs-node-gpu backend:', tf.getBackend())"

state=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
node bin/retrain.js server start
node bin/retrain.js worker --queues cpu --log-file "$state/cpu-worker.log" &
node bin/retrain.js gpu-worker --log-file "$state/gpu-worker.log" &
sleep 5

started=$(date +%s)
node bin/retrain.js run examples/fashion-mnist-demo.yaml | tail -n 30
echo "Wall time: $(( $(date +%s) - started )) s"
grep -h 'GPU found\|backend selected' "$state/gpu-worker.log" | head -n 5
echo "Device, throughput and accuracy are printed above by retrain run."
