#!/usr/bin/env bash
# Everything below the sentence that needs a GPU, in one run: the stage table of the torch
# backend on CUDA (bfloat16, as the backend runs there) and the first windows of 4 streams one
# after another, at once (a thread each) and stacked in one call (what TTS_TORCH_BATCH_WINDOWS
# does). With --cpu the same on the CPU (float32), which is how the tests run it.
#
#     benchmarks/gpu.sh                       # on a CUDA machine, from the repository root
#     benchmarks/gpu.sh --cpu --lengths 10,25 --repeats 1
#
# Further options go to ``python -m benchmarks.stages`` (--lengths, --repeats, --streams, ...).
set -euo pipefail

device=cuda
if [[ "${1:-}" == "--cpu" ]]; then
    device=cpu
    shift
fi

python - "$device" <<'PY'
import sys

import torch

device = sys.argv[1]
if device == "cuda" and not torch.cuda.is_available():
    sys.exit("No CUDA device: run with --cpu, or on a machine with a GPU.")
name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
print(f"torch {torch.__version__}, {name}")
PY
python -m benchmarks.stages --backend torch --device "$device" --streams 4 "$@"
