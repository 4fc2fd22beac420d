#!/usr/bin/env bash
# Builds bitnet.cpp (microsoft/BitNet, CPU, I2_S kernels, AVX2-only ISA, static) with its
# llama.cpp fork (Eddie-Wang1120/llama.cpp, branch merge-dev), each at a pinned commit.
#
#   bash scripts/engines/build-bitnet-cpp.sh
#
# Sources (a git URL, fetched into $MEMCAL_ENGINE_CACHE/git/, or a local git directory: a
# bare mirror or a clone), each at a commit (a full hash, a branch or a tag):
#   BITNET_GIT        (default https://github.com/microsoft/BitNet.git)
#   BITNET_REF        (default 16da220ae2b510caff437d403288882687f44ae5, the measured one)
#   BITNET_LLAMA_GIT  (default https://github.com/Eddie-Wang1120/llama.cpp.git)
#   BITNET_LLAMA_REF  (default 406a5036f9a8aaee9ec5e96e652f61691340fe95, merge-dev when
#                      measured: build 3947)
# The fork is taken at BITNET_LLAMA_REF (the commit that was measured; BitNet's own
# submodule pin, 390c3077, was absent from the snapshot the measurements were built from)
# and put at 3rdparty/llama.cpp, its models/ folder excluded (large files, not needed and
# absent from such snapshots). Then utils/codegen_tl2.py (bitnet_b1_58-3B preset, as
# setup_env.py does) and cmake -G Ninja -DBITNET_X86_TL2=OFF; targets llama-cli, llama-bench,
# llama-server (the fork's server: slots over one KV cache, no prompt cache).
# The fork's build-info defaults are set to the fork's commit and commit count, because an
# archive has no .git and `--version` would otherwise say "0 (unknown)".
# Installed into $MEMCAL_ENGINE_CACHE/bitnet.cpp-<bitnet short commit>/bin/ with engine.json.
# Took 1m40s here (2 cores: only 31 build steps); a no-op when the binaries of the same
# commits exist.
# Prints (stdout) one summary line:
#   bitnet.cpp <commit> (llama.cpp fork <commit>, build N) kernels=I2_S isa=AVX,AVX2,FMA,F16C bin=/...
# Everything else goes to stderr.
# Env: MEMCAL_ENGINE_CACHE, MEMCAL_ENGINE_JOBS, and the four above.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

BITNET_GIT=${BITNET_GIT:-https://github.com/microsoft/BitNet.git}
BITNET_REF=${BITNET_REF:-16da220ae2b510caff437d403288882687f44ae5}
BITNET_LLAMA_GIT=${BITNET_LLAMA_GIT:-https://github.com/Eddie-Wang1120/llama.cpp.git}
BITNET_LLAMA_REF=${BITNET_LLAMA_REF:-406a5036f9a8aaee9ec5e96e652f61691340fe95}
ISA=AVX,AVX2,FMA,F16C
TARGETS=(llama-cli llama-bench llama-server)

check_cache_outside_repo
git_source bitnet "$BITNET_GIT" "$BITNET_REF" BITNET_GIT
bitnet_git=$GIT_DIR_OF bitnet_commit=$GIT_COMMIT
git_source bitnet-llama.cpp "$BITNET_LLAMA_GIT" "$BITNET_LLAMA_REF" BITNET_LLAMA_GIT
llama_git=$GIT_DIR_OF llama_commit=$GIT_COMMIT
llama_count=$(git --git-dir="$llama_git" rev-list --count "$llama_commit")
bshort=${bitnet_commit:0:7}
lshort=${llama_commit:0:8}
pinned=$(git --git-dir="$bitnet_git" ls-tree "$bitnet_commit" 3rdparty/llama.cpp | awk '{print $3}')

CMAKE_FLAGS=(
    -G Ninja
    -DCMAKE_BUILD_TYPE=Release
    -DBITNET_X86_TL2=OFF
    -DBUILD_SHARED_LIBS=OFF
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
    -DGGML_AVX512=OFF
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TESTS=OFF
    -DLLAMA_CURL=OFF
)

prefix=$MEMCAL_ENGINE_CACHE/bitnet.cpp-$bshort
bindir=$prefix/bin
srcdir=$MEMCAL_ENGINE_CACHE/src/bitnet.cpp-$bshort-$lshort
builddir=$MEMCAL_ENGINE_CACHE/build/bitnet.cpp-$bshort-$lshort

have_all() {
    local t
    for t in "${TARGETS[@]}"; do [ -x "$bindir/$t" ] || return 1; done
    grep -q "\"$llama_commit\"" "$prefix/engine.json" 2>/dev/null
}

if have_all; then
    log "bitnet.cpp $bshort (fork $lshort) already installed in $bindir: skipping the build"
else
    start=$(date +%s)
    ensure_build_tools
    if [ ! -f "$srcdir/.memcal-extracted" ]; then
        log "extracting microsoft/BitNet $bitnet_commit and fork $llama_commit into $srcdir"
        [ "$pinned" = "$llama_commit" ] || warn "BitNet pins submodule ${pinned:-none}; using fork $BITNET_LLAMA_REF=$llama_commit instead"
        rm -rf "$srcdir" && mkdir -p "$srcdir"
        git --git-dir="$bitnet_git" archive --format=tar "$bitnet_commit" | tar -x -C "$srcdir"
        rm -rf "$srcdir/3rdparty/llama.cpp" && mkdir -p "$srcdir/3rdparty/llama.cpp"
        # git still reports "error: invalid object ... models/*.gguf" for the excluded, absent
        # blobs but exits 0 and writes everything else: that line is filtered out.
        git --git-dir="$llama_git" archive --format=tar "$llama_commit" -- . ':!models' \
            2> >(grep -v "^error: invalid object .* for 'models/" >&2) \
            | tar -x -C "$srcdir/3rdparty/llama.cpp"
        for f in CMakeLists.txt ggml/src/ggml.c src/llama.cpp examples/main/main.cpp; do
            [ -f "$srcdir/3rdparty/llama.cpp/$f" ] || die "fork archive incomplete: $f missing"
        done
        # No .git in an archive: make build-info report the fork's commit instead of "unknown".
        sed -i -e "s/^set(BUILD_NUMBER 0)/set(BUILD_NUMBER $llama_count)/" \
               -e "s/^set(BUILD_COMMIT \"unknown\")/set(BUILD_COMMIT \"$lshort\")/" \
               "$srcdir/3rdparty/llama.cpp/cmake/build-info.cmake"
        log "generating include/bitnet-lut-kernels.h (codegen_tl2.py, bitnet_b1_58-3B preset)"
        (cd "$srcdir" && "$MEMCAL_PYTHON" utils/codegen_tl2.py --model bitnet_b1_58-3B \
            --BM 160,320,320 --BK 96,96,96 --bm 32,32,32) >&2
        touch "$srcdir/.memcal-extracted"
    fi
    log "configuring $srcdir -> $builddir"
    cmake -S "$srcdir" -B "$builddir" "${CMAKE_FLAGS[@]}" >&2
    # The fork's ggml has no AMX backend; make sure nothing picked -march=native anyway.
    if grep -rq -- '-march=native' "$builddir/build.ninja"; then
        die "-march=native found in $builddir/build.ninja despite GGML_NATIVE=OFF"
    fi
    build_targets "$builddir" "$bindir"
    log "built in $(elapsed "$start")"
fi

# --version prints e.g. "version: 3947 (406a5036)" and "built with cc (...) for x86_64-linux-gnu".
verout=$("$bindir/llama-cli" --version 2>&1 || true)
parse_llama_version "$verout" || die "could not read the version from: $verout"
bin_build=$LV_BUILD bin_commit=$LV_COMMIT built_with=$LV_BUILT_WITH

cat > "$prefix/engine.json" <<JSON
{
  "name": "bitnet.cpp",
  "version": $(json_str "$bshort"),
  "bitnet_repo": "microsoft/BitNet",
  "bitnet_commit": $(json_str "$bitnet_commit"),
  "bitnet_commit_date": $(json_str "$(git --git-dir="$bitnet_git" log -1 --format=%cI "$bitnet_commit")"),
  "llama_repo": "Eddie-Wang1120/llama.cpp",
  "llama_ref": $(json_str "$BITNET_LLAMA_REF"),
  "llama_commit": $(json_str "$llama_commit"),
  "llama_commit_date": $(json_str "$(git --git-dir="$llama_git" log -1 --format=%cI "$llama_commit")"),
  "bitnet_pinned_submodule": $(json_str "$pinned"),
  "build_number": $bin_build,
  "built_with": $(json_str "$built_with"),
  "kernels": "I2_S (BITNET_X86_TL2=OFF; codegen_tl2 bitnet_b1_58-3B BM 160,320,320 BK 96,96,96 bm 32,32,32)",
  "isa": $(json_str "$ISA"),
  "cmake_flags": $("$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${CMAKE_FLAGS[@]}"),
  "targets": $("$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${TARGETS[@]}"),
  "bin": $(json_str "$bindir")
}
JSON

echo "bitnet.cpp $bshort ($bitnet_commit; llama.cpp fork $BITNET_LLAMA_REF $bin_commit=$llama_commit, build $bin_build) kernels=I2_S isa=$ISA bin=$bindir"
