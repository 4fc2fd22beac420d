#!/usr/bin/env bash
# Builds BitNet-rs (EffortlessMetrics/BitNet-rs) CLI binary `bitnet`, CPU only, at a pinned
# commit. Source: a git URL (fetched into $MEMCAL_ENGINE_CACHE/git/) or a local git directory
# (a bare mirror or a clone), at a commit (a full hash, a branch or a tag):
#   BITNET_RS_GIT (default https://github.com/EffortlessMetrics/BitNet-rs.git)
#   BITNET_RS_REF (default f2ae3adc01e2bdfb8c046d8847f82500749ac6fa, the measured one)
#
#   bash scripts/engines/build-bitnet-rs.sh
#
# Steps: git archive (without bin/bitnet, a blob absent from some snapshots and not needed)
# into the cache;
# rust-toolchain.toml (pins 1.92.0, not installed) is moved aside so the installed toolchain
# builds it; `cargo build --release -p bitnet-cli --no-default-features --features
# cpu,full-cli` with CARGO_PROFILE_RELEASE_LTO=false and CODEGEN_UNITS=16 (the repo's thin
# LTO + 1 codegen unit would take far longer on 2 cores), --locked when Cargo.lock allows it,
# CARGO_TARGET_DIR in the cache. Crates come from crates.io via ~/.cargo.
# Installed as $MEMCAL_ENGINE_CACHE/bitnet-rs-<short commit>/bin/bitnet with engine.json.
# Took 7m43s here (2 cores shared with another build; ~12 min reported before), plus
# crate downloads on the first run; a no-op when the binary exists.
# Prints (stdout) one summary line:
#   bitnet-rs <short> (<commit>, crate version X.Y.Z, rustc A.B.C) features=cpu,full-cli bin=/...
# Everything else goes to stderr.
# Env: MEMCAL_ENGINE_CACHE, MEMCAL_ENGINE_JOBS, BITNET_RS_GIT, BITNET_RS_REF.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

BITNET_RS_GIT=${BITNET_RS_GIT:-https://github.com/EffortlessMetrics/BitNet-rs.git}
BITNET_RS_REF=${BITNET_RS_REF:-f2ae3adc01e2bdfb8c046d8847f82500749ac6fa}
FEATURES=cpu,full-cli

check_cache_outside_repo
git_source bitnet-rs "$BITNET_RS_GIT" "$BITNET_RS_REF" BITNET_RS_GIT
git_dir=$GIT_DIR_OF commit=$GIT_COMMIT
short=${commit:0:8}

command -v cargo >/dev/null || die "cargo not found (install a Rust toolchain; the repo's pinned 1.92.0 is not needed)"
prefix=$MEMCAL_ENGINE_CACHE/bitnet-rs-$short
bin=$prefix/bin/bitnet
srcdir=$MEMCAL_ENGINE_CACHE/src/bitnet-rs-$short
export CARGO_TARGET_DIR=$MEMCAL_ENGINE_CACHE/build/bitnet-rs-target
export CARGO_PROFILE_RELEASE_LTO=false
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
CARGO_ARGS=(build --release -p bitnet-cli --no-default-features --features "$FEATURES" -j "$MEMCAL_ENGINE_JOBS")

if [ -x "$bin" ]; then
    log "BitNet-rs $short already installed at $bin: skipping the build"
else
    start=$(date +%s)
    if [ ! -f "$srcdir/.memcal-extracted" ]; then
        log "extracting EffortlessMetrics/BitNet-rs $commit into $srcdir"
        rm -rf "$srcdir" && mkdir -p "$srcdir"
        # git still reports "error: invalid object ... for 'bin/bitnet'" for the excluded,
        # absent blob but exits 0 and writes everything else: that line is filtered out.
        git --git-dir="$git_dir" archive --format=tar "$commit" -- . ':!bin/bitnet' \
            2> >(grep -v "^error: invalid object .* for 'bin/bitnet'" >&2) \
            | tar -x -C "$srcdir"
        [ -f "$srcdir/Cargo.lock" ] && [ -f "$srcdir/crates/bitnet-cli/Cargo.toml" ] \
            || die "BitNet-rs archive incomplete (Cargo.lock or crates/bitnet-cli missing)"
        if [ -f "$srcdir/rust-toolchain.toml" ]; then
            mv "$srcdir/rust-toolchain.toml" "$srcdir/rust-toolchain.toml.pinned"
        fi
        touch "$srcdir/.memcal-extracted"
    fi
    log "$(cd "$srcdir" && rustc --version); CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
    cd "$srcdir"
    if cargo "${CARGO_ARGS[@]}" --locked >&2; then
        :
    else
        warn "cargo build --locked failed; retrying without --locked (Cargo.lock may need an update for this toolchain)"
        cargo "${CARGO_ARGS[@]}" >&2
    fi
    mkdir -p "$prefix/bin"
    install -m 0755 "$CARGO_TARGET_DIR/release/bitnet" "$bin"
    log "built in $(elapsed "$start")"
fi

crate_version=$("$bin" --version 2>/dev/null | head -1 | awk '{print $NF}')
[ -n "$crate_version" ] || die "could not read '$bin --version'"
rustc_version=$(rustc --version | awk '{print $2}')

cat > "$prefix/engine.json" <<JSON
{
  "name": "bitnet-rs",
  "version": $(json_str "$crate_version"),
  "repo": "EffortlessMetrics/BitNet-rs",
  "commit": $(json_str "$commit"),
  "commit_date": $(json_str "$(git --git-dir="$git_dir" log -1 --format=%cI "$commit")"),
  "rustc": $(json_str "$rustc_version"),
  "cargo_args": $("$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${CARGO_ARGS[@]}"),
  "profile_overrides": {"CARGO_PROFILE_RELEASE_LTO": "false", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16"},
  "features": $(json_str "$FEATURES"),
  "bin": $(json_str "$bin")
}
JSON

echo "bitnet-rs $short ($commit, crate version $crate_version, rustc $rustc_version) features=$FEATURES bin=$bin"
