"""``python -m memcal``: the ``memcal`` command."""

from .cli import main

main()
