"""The README's Python example prints what the README shows, and those are the figures of
the ``predictor estimate ... --json`` command the README names for the same file."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from typing import Dict, Tuple

from conftest import REPO

README = REPO / "README.md"
CI = REPO / "scripts" / "test-python.sh"


def example() -> Tuple[str, str, str]:
    """The example's code, the output the README shows, and the command it names."""
    text = README.read_text()
    start = text.index("<!-- python-example")
    end = text.index("<!-- /python-example -->")
    block = text[start:end]
    code = re.search(r"```python\n(.*?)```", block, re.S)
    shown = re.search(r"```text\n(.*?)```", block, re.S)
    command = re.search(r"`predictor (estimate [^`]*--json)`", block)
    assert code and shown and command, "the README's python-example block is incomplete"
    return code.group(1), shown.group(1), command.group(1)


def test_the_example_is_five_lines() -> None:
    code, _, _ = example()
    assert len(code.strip().splitlines()) == 5


def test_the_readme_example_prints_the_commands_figures(smollm2, predictor) -> None:
    code, shown, command = example()
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown, (
        "the README's example output is not what the example prints now; paste this:\n"
        + run.stdout
    )
    expected = predictor.json(shlex.split(command)[:-1])  # the command, less its --json
    printed: Dict[str, int] = {}
    for line in run.stdout.splitlines()[1:]:
        name, figure = line.split()[:2]
        printed[name] = int(figure.replace(",", ""))
    host = expected["components"]["host"]
    assert printed == {**host, "host_bytes": expected["host_bytes"]}
    backend, name, dominant, _, ctx, _, table = run.stdout.splitlines()[0].split()
    assert (backend, name, dominant, int(ctx), table) == (
        expected["backend"],
        expected["model"]["name"],
        expected["model"]["dominant_type"],
        expected["config"]["ctx"],
        expected["calibration"]["name"],
    )
    assert run.stdout.splitlines()[-1].endswith(f"gpu_bytes {expected['gpu_bytes']}")


def test_ci_builds_and_installs_the_wheel_with_the_readmes_commands() -> None:
    text = README.read_text()
    build = re.search(r"\n(pip install maturin && maturin build [^\n]*)\n", text)
    install = re.search(r"\n(pip install target/wheels/memcal-\*\.whl)\n", text)
    assert build and install
    ci = CI.read_text()
    assert build.group(1).split("&& ", 1)[1] in ci
    assert install.group(1).split("pip install ", 1)[1] in ci
