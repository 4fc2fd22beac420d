"""The ``memcal`` command: the ``predictor`` command line (same subcommands, flags and
output), run by the native module."""

from __future__ import annotations

import signal
import sys
from typing import Optional, Sequence

from . import _native

__all__ = ["run", "main"]


def run(args: Optional[Sequence[str]] = None) -> int:
    """Runs ``memcal ARGS...`` (default: this process's arguments) and returns its exit
    status. Its output goes to the process's stdout and stderr, as the command's does."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = list(sys.argv[1:] if args is None else args)
    return _native.main(["memcal", *argv])


def main() -> None:
    """The console script: exits with the command's status."""
    # As the `predictor` binary: a closed pipe (`memcal presets | head`) ends the process
    # quietly, as Unix tools do.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(run())
