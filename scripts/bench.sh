#!/usr/bin/env bash
# Runs every benchmark in bench/. PyTorch is installed here only, never as a runtime dependency:
# torch==2.13.0 exactly is the CPU build that lies on this machine's disk.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch" 2>/dev/null || pip install --quiet torch==2.13.0
for script in bench/engine_throughput.py bench/sampler_quality.py bench/trial_overhead.py \
  bench/parallel_scaling.py bench/dask_scaling.py bench/report_write_load.py; do
  if [ -f "$script" ]; then
    echo "== $script"
    python "$script" "$@"
  fi
done
