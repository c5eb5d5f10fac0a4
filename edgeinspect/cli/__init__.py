"""``edgeinspect`` command line: one module per command, errors as one line and exit code 2.

A :class:`~edgeinspect.errors.EdgeInspectError` (bad file, key, device or option) is printed as
``error: <message>`` and exits with 2; anything else is a bug and keeps its traceback.
"""

import importlib
import sys

from edgeinspect.cli.app import app

# Each name is a module of this package that registers its command(s) on ``app``.
COMMAND_MODULES = (
    "info",
    "models",
    "eval",
    "synth",
    "run",
    "plugins",
    "train",
    "export",
    "build",
    "bench",
    "calib",
    "doctor",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"edgeinspect.cli.{_name}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and exit code 2."""
    from edgeinspect.errors import EdgeInspectError

    try:
        app(args=argv, prog_name="edgeinspect", standalone_mode=True)
    except EdgeInspectError as error:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(error))}")
        sys.exit(2)
