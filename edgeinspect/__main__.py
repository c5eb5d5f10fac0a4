"""``python -m edgeinspect`` is the ``edgeinspect`` command."""

from edgeinspect.cli import main

main()
