#!/usr/bin/env bash
# Builds the CUDA profiler on a machine WITHOUT a GPU and packs what a GPU box needs into
# gpu-bundle/ (ignored): the stripped binary, libcudart.so.13 from the wheel, the GPU
# scripts, llama.cpp's CUDA build when there is one, and a README. The recipe is this script
# (CUDA 13.0 pip wheels, which carry a working nvcc; a symlink CUDA root; sm_90 for
# H100/H200); profiler/CUDA.md says how to run the result.
#
#   scripts/gpu-bundle.sh            # venv + CUDA root + build + bundle
#   scripts/gpu-bundle.sh --env      # only print the env exports for a manual cargo call
#   scripts/gpu-bundle.sh --check    # cargo check of the cuda feature set only (no bundle)
#
# Everything it writes is under ignored paths: .cuda-venv/ (wheels), .cuda-root/ (symlinks),
# target-cuda/ (a separate target dir, so the main target/ is not invalidated), gpu-bundle/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
venv=$repo/.cuda-venv
root=$repo/.cuda-root
tdir=$repo/target-cuda
bundle=$repo/gpu-bundle
mode=${1:-build}

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Compiling (candle-kernels' nvcc run) needs the compiler, the runtime and driver headers
# and CCCL; linking also needs cuBLAS, cuRAND and NVRTC (about 600 MB more), so --check
# installs only the first set. pip skips what is already installed.
wheels=("nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" "nvidia-cuda-crt==13.0.88"
  "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*")
if [ "$mode" != --check ]; then
  wheels+=("nvidia-cuda-nvrtc==13.0.*" "nvidia-cublas==13.0.2.14" nvidia-curand)
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheels[@]}"
cu13=$(echo "$venv"/lib/python3*/site-packages/nvidia/cu13)
[ -x "$cu13/bin/nvcc" ] || { echo "nvcc not found under $cu13" >&2; exit 1; }

# The symlink CUDA root: bin, include, nvvm as they are; lib64 with the versioned libraries
# plus unversioned names for the linker (libcudart.so -> libcudart.so.13, ...).
# Idempotent (ln -sfn): files that already exist keep their mtimes, so the build scripts
# (candle-kernels runs nvcc for about 20 minutes) are not re-run by a second call.
mkdir -p "$root/lib64"
for d in bin include nvvm; do ln -sfn "$cu13/$d" "$root/$d"; done
for f in "$cu13"/lib/*.so*; do
  b=$(basename "$f")
  ln -sfn "$f" "$root/lib64/$b"
  ln -sfn "$f" "$root/lib64/${b%%.so*}.so"
done
# The driver API (libcuda.so) is in no wheel: it comes with the GPU driver. To link without a
# driver, build a stub libcuda.so (soname libcuda.so.1) from the function names of cudarc's
# driver bindings, in lib64/stubs (a directory cudarc's build script searches). Each stub
# returns CUDA_ERROR_NO_DEVICE (100), so the binary also runs here with the stub on
# LD_LIBRARY_PATH and reports "no CUDA device" cleanly. The stub is never bundled: on the
# GPU box libcuda.so.1 is the driver's.
mkdir -p "$root/lib64/stubs"
cudarc_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10 2>/dev/null | head -1)
if [ -z "$cudarc_src" ]; then
  cargo fetch --quiet
  cudarc_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10 | head -1)
fi
grep -ohE '^pub unsafe fn cu[A-Za-z0-9_]+' "$cudarc_src/src/driver/sys/mod.rs" |
  awk '{print $4}' | sort -u |
  awk '{print "int " $1 "(void) { return 100; }"}' > "$root/lib64/stubs/cuda_stub.c.new"
if ! cmp -s "$root/lib64/stubs/cuda_stub.c.new" "$root/lib64/stubs/cuda_stub.c" ||
  [ ! -e "$root/lib64/stubs/libcuda.so" ]; then
  mv "$root/lib64/stubs/cuda_stub.c.new" "$root/lib64/stubs/cuda_stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib64/stubs/libcuda.so" \
    "$root/lib64/stubs/cuda_stub.c"
fi
rm -f "$root/lib64/stubs/cuda_stub.c.new"
ln -sfn libcuda.so "$root/lib64/stubs/libcuda.so.1"

export CUDA_HOME=$root CUDA_ROOT=$root CUDA_PATH=$root
export PATH=$root/bin:$PATH
export LIBRARY_PATH=$root/lib64${LIBRARY_PATH:+:$LIBRARY_PATH}
export LD_LIBRARY_PATH=$root/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CUDARC_CUDA_VERSION=13000
export CARGO_TARGET_DIR=$tdir

if [ "$mode" = --env ]; then
  for v in CUDA_HOME CUDA_ROOT CUDA_PATH PATH LIBRARY_PATH LD_LIBRARY_PATH CUDA_COMPUTE_CAP \
           CUDARC_CUDA_VERSION CARGO_TARGET_DIR; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  exit 0
fi
if [ "$mode" = --check ]; then
  cargo check --release -p profiler --no-default-features --features cuda
  exit 0
fi

start=$(date +%s)
cargo build --release -p profiler --no-default-features --features cuda
echo "cuda build took $(( $(date +%s) - start )) s"
# The CUDA build still runs on the CPU: a self-test through the stub driver.
LD_LIBRARY_PATH=$root/lib64/stubs:$LD_LIBRARY_PATH "$tdir/release/profiler" cuda-check --device cpu

rm -rf "$bundle"
mkdir -p "$bundle/lib" "$bundle/scripts"
cp "$tdir/release/profiler" "$bundle/profiler"
strip "$bundle/profiler"
cp -L "$cu13"/lib/libcudart.so.13 "$bundle/lib/"
cp scripts/gpu-calibrate.sh "$bundle/scripts/"
# llama.cpp's CUDA build (scripts/engines/build-llama-cpp-cuda.sh), when it exists: the
# GPU script measures it too. Only llama-completion and engine.json travel.
llama_cuda=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}/llama.cpp-11434-cuda
if [ -x "$llama_cuda/bin/llama-completion" ]; then
  mkdir -p "$bundle/llama.cpp/bin"
  cp "$llama_cuda/bin/llama-completion" "$bundle/llama.cpp/bin/"
  strip "$bundle/llama.cpp/bin/llama-completion" 2>/dev/null || true
  cp "$llama_cuda/engine.json" "$bundle/llama.cpp/"
fi
cat > "$bundle/README.md" <<'README'
# memcal GPU bundle

Built without a GPU by scripts/gpu-bundle.sh (candle-core `cuda`, cudarc dynamic-linking,
CUDA 13.0 wheels, sm_90). Needs a CUDA 13 driver (>= 580) and the CUDA 13 libraries
(cuBLAS 13, cuRAND 10, NVRTC 13) on the box; libcudart.so.13 is carried in lib/.

    scripts/gpu-calibrate.sh OUT        # cuda-check, smoke test, then the cuda-default
                                        # sweep into OUT (logs in OUT/logs, summary.txt)
    scripts/gpu-calibrate.sh --help

Copy OUT/ back into the repository (calibration/data/) and commit the records.
What is verified and what remains: profiler/CUDA.md in the repository.
README
(cd "$bundle" && find . -type f | sort | xargs ls -l)
# xz: the device machine takes at most 64 MiB of carried files.
tar -C "$repo" -cJf "$repo/gpu-bundle.tar.xz" gpu-bundle
ls -l "$repo/gpu-bundle.tar.xz"
