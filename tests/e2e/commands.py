"""Runs ``supportdesk`` commands one after another in one Python process, for the live servers' set-up.

Each command is the real CLI's (the same Typer application, the same arguments); what is saved is a
Python start and an import of the application per command, about a second each. After every command
one JSON line goes to standard output: ``{"command": ..., "output": ...}``, with what the command
printed, so the caller can act as soon as a command is done (start the server once the schema exists)
and read what it printed (a token). A failing command prints its error to standard error and ends the
process with exit code 1.

Usage: ``python -m tests.e2e.commands "db upgrade" "tokens create a@example.com --workspace live"``
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys

from supportdesk.cli import app


def run(command: str) -> str:
    """What ``supportdesk <command>`` prints; raises if the command fails."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        # Outside standalone mode click returns the exit code a command asked for instead of exiting.
        exit_code = app(shlex.split(command), prog_name="supportdesk", standalone_mode=False)
    if isinstance(exit_code, int) and exit_code != 0:
        raise RuntimeError(f"exit code {exit_code}; it printed: {printed.getvalue().strip()}")
    return printed.getvalue()


def main(commands: list[str]) -> int:
    for command in commands:
        try:
            output = run(command)
        except BaseException as error:  # noqa: BLE001  (reported to the caller, which fails the set-up)
            sys.stderr.write(f"supportdesk {command}: {type(error).__name__}: {error}\n")
            return 1
        sys.stdout.write(json.dumps({"command": command, "output": output}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
