"""``edgeinspect`` command line: one module per command, errors as one line and exit code 2.

A :class:`~edgeinspect.errors.EdgeInspectError` (bad file, key, device or option) and a command line
that does not parse are printed as ``error: <message>`` and exit with 2; anything else is a bug
and keeps its traceback.
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
    """Run the CLI; user errors become one line on stderr and exit code 2.

    Two kinds of user error: an :class:`EdgeInspectError` from a command (bad file, key, device)
    and a command line click cannot parse (unknown option, a value of the wrong type, a missing
    argument). Both print ``error: <message>``; the second also names the command's ``--help``.
    """
    import typer

    from edgeinspect.errors import EdgeInspectError

    # click's exceptions module: click's own, or the copy newer typer releases vendor (typer._click)
    click_errors = sys.modules[typer.BadParameter.__module__]
    no_args_is_help = getattr(click_errors, "NoArgsIsHelpError", ())

    try:
        outcome = app(args=argv, prog_name="edgeinspect", standalone_mode=False)
    except no_args_is_help as help_shown:
        help_shown.show()  # `edgeinspect` or a group with no command: its help, as click prints it
        sys.exit(help_shown.exit_code)
    except click_errors.UsageError as error:
        command = error.ctx.command_path if error.ctx is not None else _command_path(argv)
        _print_error(f"{command}: {_one_line(error.format_message())} (see '{command} --help')")
        sys.exit(2)
    except click_errors.ClickException as error:
        _print_error(_one_line(error.format_message()))
        sys.exit(error.exit_code)
    except typer.Abort:
        _print_error("aborted")
        sys.exit(1)
    except EdgeInspectError as error:
        _print_error(str(error))
        sys.exit(2)
    # Not standalone, click returns the code of a `typer.Exit` (or the command's return value).
    sys.exit(outcome if isinstance(outcome, int) else 0)


def _command_path(argv: list[str] | None) -> str:
    """``edgeinspect <command> [<subcommand>]`` named by the leading words of ``argv``.

    For the parser errors click raises without a context (an option missing its value).
    """
    import typer.main

    words = sys.argv[1:] if argv is None else argv
    command, path = typer.main.get_command(app), ["edgeinspect"]
    for word in words:
        subcommands = getattr(command, "commands", {})
        if word not in subcommands:
            break
        command = subcommands[word]
        path.append(word)
    return " ".join(path)


def _one_line(message: str) -> str:
    """``message`` with its line breaks folded into spaces (click wraps some of its messages)."""
    return " ".join(message.split())


def _print_error(message: str) -> None:
    """``error: <message>`` on stderr, one line however wide the terminal."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}")
