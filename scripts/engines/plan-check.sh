#!/usr/bin/env bash
# Runs the planner's answers for real: `predictor plan --serve` (the most slots that fit a
# budget at a context) and `predictor plan --hosts` (the largest batch that fits a model split
# over three machines' budgets), then measures the plan's largest configuration and the one a
# step larger (one more slot, one more sequence) with `profiler exec`. With --margin 0 the
# plan is the calibrated peak itself, so the largest configuration must measure under its
# budget and the next one over it (a machine over its budget, for the split).
# `cargo test -p calibration --test plan_checks` holds the committed checks against the
# committed tables: when the tables change the plan's answer, it asks for this script again.
#
# Usage: scripts/engines/plan-check.sh [OUT_DIR]   (default calibration/plan-checks)
# Env: PREDICTOR, PROFILER (default target/release/...), MODELS_DIR, THREADS as in the sweeps.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-calibration/plan-checks}
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
BIN=$CACHE/llama.cpp-11434/bin
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PREDICTOR=${PREDICTOR:-target/release/predictor}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
json() { "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }

# --- A server: the most slots at a context that fit a budget. -------------------------
SERVE_MODEL=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
SERVE_BUDGET=${SERVE_BUDGET:-1500M}
serve_flags=(--backend llama.cpp --serve --ctx 4096 --prompt 64 --decode 4 --requests 2 --margin 0)
slots=$("$PREDICTOR" plan "$MODELS_DIR/$SERVE_MODEL" "${serve_flags[@]}" --budget "$SERVE_BUDGET" --json \
    | json '["max_batch"]')
echo "plan --serve: at most $slots slots of 4096 in $SERVE_BUDGET" >&2
for n in "$slots" $((slots + 1)); do
    "$PROFILER" exec --engine "$BIN/llama-server" --model "$MODELS_DIR/$SERVE_MODEL" \
        "${serve_flags[@]}" --slots "$n" --threads "$THREADS" --timeout 1800 \
        --append "$OUT/serve.jsonl" --resume >/dev/null || true
done
printf '{"name":"serve","model":"%s","budget":"%s","flags":"%s","max":%s}\n' \
    "$SERVE_MODEL" "$SERVE_BUDGET" "${serve_flags[*]}" "$slots" > "$OUT/serve.check.json"

# --- Several machines: the largest batch at a context that fits three budgets. ---------
HOSTS_MODEL=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
HOSTS=${HOSTS:-client=1700M,w1=560M,w2=560M}
hosts_flags=(--backend llama.cpp --ctx 8192 --prompt 64 --decode 4 --margin 0)
batch=$("$PREDICTOR" plan "$MODELS_DIR/$HOSTS_MODEL" "${hosts_flags[@]}" --hosts "$HOSTS" --json \
    | json '["max_batch"]')
echo "plan --hosts: at most batch $batch of 8192 on $HOSTS" >&2
for n in "$batch" $((batch + 1)); do
    plan=$("$PREDICTOR" plan "$MODELS_DIR/$HOSTS_MODEL" "${hosts_flags[@]}" --batch "$n" \
        --hosts "$HOSTS" --json)
    ngl=$(printf '%s' "$plan" | json '["gpu_layers"]')
    ts=$(printf '%s' "$plan" | json '["tensor_split"]' | tr -d '[] ')
    names=$(printf '%s' "$HOSTS" | sed 's/=[^,]*//g')
    "$PROFILER" exec --engine "$BIN/llama-completion" --rpc-server "$BIN/ggml-rpc-server" \
        --model "$MODELS_DIR/$HOSTS_MODEL" "${hosts_flags[@]}" --batch "$n" --hosts "$names" \
        --tensor-split "$ts" --gpu-layers "$ngl" --threads "$THREADS" --timeout 1800 \
        --append "$OUT/hosts.jsonl" --resume >/dev/null || true
done
printf '{"name":"hosts","model":"%s","hosts":"%s","flags":"%s","max":%s}\n' \
    "$HOSTS_MODEL" "$HOSTS" "${hosts_flags[*]}" "$batch" > "$OUT/hosts.check.json"
echo "plan checks written to $OUT" >&2
