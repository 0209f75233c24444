#!/usr/bin/env bash
# One prepared run on a borrowed GPU machine (see README "GPU"): unpack the datasets carried in .gldata/,
# benchmark the engine on the GPU, then compute the gallery's network parts as parallel processes (one small
# model per process is launch-bound, so several processes share the GPU well), and pack the records into $OUT.
#
# Usage there: bash bench/gpu_gallery.sh SECONDS_FOR_GALLERY [WORKERS]
# .gldata/ holds mnist.tar.xz and cifar10-jpg.tar.xz (tar of ../shared/datasets/{MNIST,cifar10-jpg}, xz).
set -u
export PYTHONUNBUFFERED=1
budget=${1:-420}
workers=${2:-12}
out=${OUT:-/tmp/out}
data=/tmp/ipcore-data
runs=/tmp/ipcore-runs
logs=$runs/logs
mkdir -p "$data" "$runs" "$logs" "$out"
export IPCORE_DATA=$data IPCORE_CACHE=/tmp/ipcore-cache

start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
tar -xJf .gldata/mnist.tar.xz -C "$data" && tar -xJf .gldata/cifar10-jpg.tar.xz -C "$data"
echo "unpacked in $(( $(date +%s) - start )) s"

# A tiny CUDA run first: if the engine fails on the GPU, stop now and spend no more device time.
python3 -m ipcore train --dataset clusters --rules ip,wd,infomax,bn_inc,bn_wd,ip_cov,wd_cov,ip_hard,batchnorm,none \
    --depth 3 --width 16 --epochs 1 --seeds 2 --device cuda --json > "$out/sanity.json" 2> "$out/sanity.err" \
    || { echo "CUDA sanity run failed:"; tail -n 30 "$out/sanity.err"; exit 1; }
echo "sanity ok at $(( $(date +%s) - start )) s"

# Decode the CIFAR-10 JPEG folder once, so the parallel workers all read the cache.
python3 -c "from ipcore.data import load_dataset; load_dataset('cifar10', '$data', 0, 'cpu')" \
    && echo "cifar10 decoded and cached at $(( $(date +%s) - start )) s"

# The engine's benchmark on the GPU (figures for the README).
timeout "${BENCH_SECONDS:-120}" python3 bench/bench_train.py --device cuda --data-root "$data" --repeats 1 \
    > "$out/bench_gpu.txt" 2>&1
tail -n 20 "$out/bench_gpu.txt"

# Network parts, longest first (--list-parts sorts them by estimated cost).
python3 -m ipcore gallery --list-parts --runs-dir "$runs" | grep -v -E '^(fig5\.|lemma)' > "$runs/order.txt"
echo "parts to compute: $(wc -l < "$runs/order.txt")"
left=$(( budget - ($(date +%s) - start) ))
timeout "$left" xargs -P "$workers" -L 1 sh -c \
    'python3 -m ipcore gallery --only "$0" --part "$1" --device cuda --data-root "'"$data"'" \
        --runs-dir "'"$runs"'" > "'"$logs"'/$0-$1.log" 2>&1; echo "$0 $1 exit $? at $(date +%T)"' \
    < "$runs/order.txt"
pkill -TERM -f "ipcore gallery" && sleep 15  # unfinished parts save what they have, as cancelled
echo "gallery stopped at $(( $(date +%s) - start )) s"
python3 -m ipcore gallery --list --runs-dir "$runs"
# Files come back at most 16 MB each: split the archive.
tar -czf - -C "$runs" --exclude='.tmp-*' . | split -b 15m -d - "$out/gallery_runs.tar.gz.part"
ls -la "$out"
