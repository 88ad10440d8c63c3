#!/usr/bin/env bash
# The CUDA path's checks on a machine with one NVIDIA GPU, in under 8 minutes (infra/gpu/README.md):
#   the CUDA engine loads; GPT-2 small's shape trains (tokens/s, MFU against the GPU's bf16 peak, in bf16, memory plan);
#   a pretrain stage stopped and resumed on this GPU ends byte-identical; a Llama HF fixture fine-tunes a few steps.
# Usage: infra/gpu/verify.sh [extra ./forge gpu-verify options, e.g. --steps 100 --precision fp32]
# Not yet run on a GPU (BENCHMARKS.md, "GPU verification").
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
limit="${VERIFY_TIMEOUT_SECONDS:-480}"

fail() { echo "verify.sh: $*" >&2; exit 2; }

command -v nvidia-smi >/dev/null || fail "no nvidia-smi: this machine has no NVIDIA driver"
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
echo "gpu: $gpu ($(nvidia-smi -L | wc -l) visible; driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1))"
# Dense bf16 (= fp16) tensor-core peak in TFLOP/s (NVIDIA datasheets, without sparsity), for MFU.
case "$gpu" in
  *H200*) peak=989 ;;
  *H100*PCIe*) peak=756 ;;
  *H100*NVL*) peak=835 ;;
  *H100*) peak=989 ;;              # SXM ("NVIDIA H100 80GB HBM3")
  *A100*) peak=312 ;;
  *L40S*) peak=362 ;;
  *) peak=0; echo "verify.sh: no bf16 peak known for \"$gpu\": MFU is not printed (pass --peak-tflops N)" ;;
esac

command -v java >/dev/null || fail "no java on PATH: install a JDK 17 (e.g. Temurin) or point PATH at one"
java -version 2>&1 | head -1

# DJL 0.36's PyTorch engine needs libtorch 2.7.1 built for CUDA; the CPU one in ~/.djl.ai is what it falls back to,
# and then the first check fails. Three ways, in the order tried (README.md beside this file):
#   1. PYTORCH_LIBRARY_PATH=/path/to/libtorch-2.7.1+cuXXX/lib (a libtorch zip from pytorch.org, unpacked);
#   2. a DJL cache prepared while online and copied here: DJL_CACHE_DIR (or ENGINE_CACHE_DIR) holding
#      pytorch/2.7.1-cuXXX-linux-x86_64/ (what DJL downloads on first use);
#   3. online: DJL downloads the CUDA build matching the driver on first use (set PYTORCH_FLAVOR=cu128 to choose).
if [[ -n "${PYTORCH_LIBRARY_PATH:-}" ]]; then
  echo "libtorch: PYTORCH_LIBRARY_PATH=$PYTORCH_LIBRARY_PATH"
  export PYTORCH_VERSION="${PYTORCH_VERSION:-2.7.1}"
else
  cache="${ENGINE_CACHE_DIR:-${DJL_CACHE_DIR:-$HOME/.djl.ai}}/pytorch"
  if ls -d "$cache"/2.7.1-*cu*-linux-x86_64 >/dev/null 2>&1; then
    echo "libtorch: DJL cache $(ls -d "$cache"/2.7.1-*cu*-linux-x86_64 | head -1)"
    export DJL_OFFLINE="${DJL_OFFLINE:-true}"
  else
    echo "libtorch: none prepared; DJL will download the CUDA build (needs network)"
  fi
fi

# The jar: built here if Maven and the sources are (./forge builds it), or carried as workers/target/forge.jar.
if [[ -f workers/target/forge.jar ]] && ! command -v mvn >/dev/null; then
  run=(java ${FORGE_JAVA_OPTS:-} -jar workers/target/forge.jar)
else
  run=(./forge)
fi
export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-10000}"
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-33554432}"   # as ./forge: see the comment there
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-268435456}"
export FORGE_HOME="$repo"
start=$(date +%s)
set +e
timeout "$limit" "${run[@]}" gpu-verify --device cuda --peak-tflops "$peak" "$@"
rc=$?
set -e
echo "verify.sh: exit $rc after $(( $(date +%s) - start )) s (limit $limit s)"
nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader || true
exit $rc
