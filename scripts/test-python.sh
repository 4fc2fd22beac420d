#!/usr/bin/env bash
# Builds the Python wheel with the README's command, installs it into a fresh venv with the
# README's command, and runs python/tests (pytest) against the installed package. Run by
# .ci/run after `cargo test --workspace --release` (which builds the `predictor` and
# `profiler` binaries the tests compare with) and scripts/fetch-real-model.sh.
# maturin builds in the workspace's target/ (reusing what cargo built there); the wheel
# lands in target/wheels/. Takes about a minute after the workspace build, plus the
# downloads of maturin, pytest and mypy from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

venvs=target/python-ci
rm -rf "$venvs"
rm -f target/wheels/memcal-*.whl

# Build, in a venv of its own (maturin from PyPI).
python3 -m venv "$venvs/build"
(
    # shellcheck disable=SC1091
    . "$venvs/build/bin/activate"
    pip install maturin && maturin build --release -m python/Cargo.toml
)

# Install into a fresh venv and test there.
python3 -m venv "$venvs/test"
(
    # shellcheck disable=SC1091
    . "$venvs/test/bin/activate"
    pip install target/wheels/memcal-*.whl
    pip install pytest mypy
    python -m pytest -q -p no:cacheprovider python/tests
    # The installed package type-checks strictly (its annotations and the native stub).
    (cd "$venvs" && python -m mypy --strict --no-incremental -p memcal)
)
