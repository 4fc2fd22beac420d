"""The ``memcal`` console script is the ``predictor`` command: same subcommands, flags,
output and exit status."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from conftest import REPO

SCRIPT = Path(sys.executable).parent / "memcal"


def run(command: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO)


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.exists(), f"no {SCRIPT}: the wheel's console script was not installed"
    assert shutil.which("memcal", path=str(SCRIPT.parent)) == str(SCRIPT)


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "{model}"],
        ["estimate", "{model}", "--json"],
        ["estimate", "{model}", "--ctx", "2048", "--batch", "3", "--kv-dtype", "q8_0", "--flash-attn", "on"],
        ["estimate", "{model}", "--backend", "memcal", "--uncalibrated", "--json"],
        ["plan", "{model}", "--budget", "512M"],
        ["plan", "{model}", "--budget", "512M", "--json"],
        ["inspect", "{model}"],
        ["inspect", "{model}", "--json"],
        ["presets"],
        ["presets", "--json"],
        ["backends"],
        ["backends", "--json"],
        ["estimate", "--preset", "bitnet-b1.58-2b-4t"],
        ["plan", "--preset", "bitnet-b1.58-2b-4t", "--device", "cpu", "--budget", "4G"],
    ],
)
def test_same_output_as_predictor(args: List[str], smollm2: Path, predictor_bin: Path) -> None:
    argv = [a.replace("{model}", str(smollm2)) for a in args]
    ours, theirs = run([str(SCRIPT), *argv]), run([str(predictor_bin), *argv])
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, theirs.stdout, theirs.stderr)
    assert ours.stdout


@pytest.mark.parametrize(
    "args,status",
    [
        (["estimate", "/no/such/model.gguf"], 1),
        (["estimate", "--preset", "gpt-9"], 1),
        (["estimate", "--preset", "llama-3.2-1b", "--kv-dtype", "q3"], 1),
        (["estimate"], 2),
        (["no-such-command"], 2),
        (["estimate", "--preset", "llama-3.2-1b", "--ctx", "many"], 2),
    ],
)
def test_same_errors_and_status_as_predictor(args: List[str], status: int, predictor_bin: Path) -> None:
    ours, theirs = run([str(SCRIPT), *args]), run([str(predictor_bin), *args])
    assert ours.returncode == theirs.returncode == status
    assert ours.stdout == theirs.stdout == ""
    # Usage lines name the command that was run; everything else is the same text.
    assert ours.stderr.replace("memcal", "predictor") == theirs.stderr


def test_help_and_version_name_memcal(predictor_bin: Path) -> None:
    version = run([str(SCRIPT), "--version"])
    assert version.returncode == 0
    assert version.stdout == run([str(predictor_bin), "--version"]).stdout.replace(
        "predictor", "memcal"
    )
    help_text = run([str(SCRIPT), "estimate", "--help"])
    assert help_text.returncode == 0 and "Usage: memcal estimate" in help_text.stdout


def test_python_dash_m_memcal(predictor_bin: Path) -> None:
    ours = run([sys.executable, "-m", "memcal", "estimate", "--preset", "llama-3.2-1b", "--json"])
    theirs = run([str(predictor_bin), "estimate", "--preset", "llama-3.2-1b", "--json"])
    assert (ours.returncode, ours.stdout) == (0, theirs.stdout)

