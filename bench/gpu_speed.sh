#!/usr/bin/env bash
# One prepared speed check on a borrowed GPU machine (issue 14), about 3–4 minutes: is the CUDA-graph step equal to
# the eager one, and how fast is each? Written where no GPU was available: nothing here has run on a GPU yet.
#
# Usage there: bash bench/gpu_speed.sh        (.gldata/mnist.tar.xz: tar of ../shared/datasets/MNIST, xz, as for
#                                              bench/gpu_gallery.sh; or set IPCORE_DATA to a folder holding MNIST/raw)
# Results in $OUT: tests.txt, bench_graph.txt (+ JSON line), bench_eager.txt (+ JSON line).
set -u
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/out}
mkdir -p "$out"
if [ -z "${IPCORE_DATA:-}" ]; then
    export IPCORE_DATA=/tmp/ipcore-data
    mkdir -p "$IPCORE_DATA" && tar -xJf .gldata/mnist.tar.xz -C "$IPCORE_DATA"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

# 1. Correctness first (a graphed run equals an eager one, divergence and the smaller last batch included): if it
#    fails, stop and spend no more device time.
timeout 300 python3 -m pytest -q tests/test_step.py > "$out/tests.txt" 2>&1
tail -n 5 "$out/tests.txt"
grep -q "skipped" "$out/tests.txt" && { echo "the CUDA test was skipped: no GPU seen"; exit 1; }
grep -q " failed" "$out/tests.txt" && { echo "tests failed: see tests.txt"; exit 1; }

# 2. The benchmark with the graph (default) and without it (IPCORE_CUDA_GRAPHS=0), 10 seeds, whole MNIST epoch.
timeout 240 python3 bench/bench_train.py --device cuda --data-root "$IPCORE_DATA" --repeats 2 --json \
    > "$out/bench_graph.txt" 2>&1
tail -n 12 "$out/bench_graph.txt"
IPCORE_CUDA_GRAPHS=0 timeout 120 python3 bench/bench_train.py --device cuda --data-root "$IPCORE_DATA" --repeats 2 \
    --skip-reference --json > "$out/bench_eager.txt" 2>&1
tail -n 8 "$out/bench_eager.txt"
