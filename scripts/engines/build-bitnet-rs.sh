#!/usr/bin/env bash
# Builds BitNet-rs (EffortlessMetrics/BitNet-rs) CLI binary `bitnet`, CPU only, from a local
# bare git mirror:
#   BITNET_RS_GIT (default /work/.mirror/EffortlessMetrics+BitNet-rs/repo), ref BITNET_RS_REF (HEAD)
# The mirror is a GitHub snapshot made with the workspace's snapshot tool (not git clone).
#
#   bash scripts/engines/build-bitnet-rs.sh
#
# Steps: git archive (without bin/bitnet, a blob absent from the snapshot) into the cache;
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

BITNET_RS_GIT=${BITNET_RS_GIT:-/work/.mirror/EffortlessMetrics+BitNet-rs/repo}
BITNET_RS_REF=${BITNET_RS_REF:-HEAD}
FEATURES=cpu,full-cli

[ -d "$BITNET_RS_GIT" ] || die "BitNet-rs mirror not found at $BITNET_RS_GIT. It is a bare git directory made by the GitHub snapshot tool (fetch github:EffortlessMetrics/BitNet-rs), not by git clone; fetch it, or set BITNET_RS_GIT=/path/to/bare/repo"
commit=$(git --git-dir="$BITNET_RS_GIT" rev-parse --verify --quiet "$BITNET_RS_REF^{commit}") \
    || die "BitNet-rs mirror $BITNET_RS_GIT has no commit for ref '$BITNET_RS_REF' (set BITNET_RS_REF)"
short=${commit:0:8}

check_cache_outside_repo
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
        git --git-dir="$BITNET_RS_GIT" archive --format=tar "$commit" -- . ':!bin/bitnet' \
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
  "commit_date": $(json_str "$(git --git-dir="$BITNET_RS_GIT" log -1 --format=%cI "$commit")"),
  "rustc": $(json_str "$rustc_version"),
  "cargo_args": $("$MEMCAL_PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${CARGO_ARGS[@]}"),
  "profile_overrides": {"CARGO_PROFILE_RELEASE_LTO": "false", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16"},
  "features": $(json_str "$FEATURES"),
  "bin": $(json_str "$bin")
}
JSON

echo "bitnet-rs $short ($commit, crate version $crate_version, rustc $rustc_version) features=$FEATURES bin=$bin"
