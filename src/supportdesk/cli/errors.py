"""Every failure of a command ends as one line on standard error: the cause, then the next step.

Commands do not catch errors themselves. The root command's class, :class:`ErrorTranslatingGroup`, runs
every command and turns whatever escapes it into that line here, so a new command is covered without
doing anything. ``supportdesk --debug`` lets unexpected errors through with their traceback instead.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any, NoReturn

import typer
from alembic.util.exc import CommandError
from rich.console import Console
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from typer._click.core import Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer._click.globals import get_current_context
from typer.core import TyperGroup

from supportdesk.config.errors import SettingsError
from supportdesk.core.errors import SupportdeskError

DATABASE_URL_KEY = "supportdesk.database_url"
DEBUG_HINT = "run it again as `supportdesk --debug ...` to see the traceback"
FIX_URL = "fix SUPPORTDESK_DATABASE_URL"
UPGRADE = "run `supportdesk db upgrade`"

err = Console(stderr=True, soft_wrap=True, highlight=False)


class CliError(Exception):
    """A failure the command explains itself: ``message`` is the whole line, without ``error:``."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop the command with one line on standard error and exit status ``code``."""
    raise CliError(message, code=code)


def remember_database(url: str) -> None:
    """Note the database a command is about to open, so an error can say which one it could not reach."""
    context = get_current_context(silent=True)
    if context is not None:
        context.meta[DATABASE_URL_KEY] = url


class ErrorTranslatingGroup(TyperGroup):
    """The root command: runs the chosen command and reports what it raises as one line."""

    # Typer carries its own copy of click; its classes are the ones raised here (``typer._click``).
    def invoke(self, ctx: Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except CliError as error:
            _report(error)
        except (typer.Exit, NoArgsIsHelpError):
            raise
        except UsageError as error:
            _report(_usage_error(error))
        except typer.Abort:
            _report(CliError("aborted; nothing was changed"))
        except Exception as error:
            if debug:
                raise
            _report(translate(error, ctx.meta.get(DATABASE_URL_KEY)))


def _report(error: CliError) -> NoReturn:
    err.print(f"error: {error.message}", markup=False, highlight=False)
    raise typer.Exit(error.code)


def _usage_error(error: UsageError) -> CliError:
    command = error.ctx.command_path if error.ctx is not None else "supportdesk"
    return CliError(f"{_sentence(error.format_message())}: see `{command} --help`", code=error.exit_code)


def translate(error: BaseException, database_url: str | None = None) -> CliError:
    """The line that explains ``error``, raised while working on ``database_url`` (if known)."""
    if isinstance(error, CliError):
        return error
    if isinstance(error, SettingsError):
        return CliError(str(error), code=2)
    if isinstance(error, SupportdeskError):
        return _service_error(error)
    if isinstance(error, CommandError):
        return _migration_error(error)
    url = _parse(database_url)
    if isinstance(error, DBAPIError) and (explained := _database_error(error, url)) is not None:
        return explained
    if isinstance(error, OSError):
        return _unreachable(error, url)
    if isinstance(error, SQLAlchemyError):
        cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
        return CliError(f"database error: {_first_line(cause)}: {DEBUG_HINT}")
    return CliError(f"unexpected {type(error).__name__}: {_first_line(error)}: {DEBUG_HINT}")


def _service_error(error: SupportdeskError) -> CliError:
    detail = _sentence(error.detail)
    if error.code == "last-admin":
        return CliError(
            f"{detail}: make another user an admin first (`supportdesk users set-role EMAIL admin`)"
        )
    if error.code == "user-exists":
        return CliError(f"{detail}: see `supportdesk users list`")
    return CliError(detail)


def _migration_error(error: CommandError) -> CliError:
    message = _first_line(error)
    if "Can't locate revision" in message or "No such revision" in message:
        from supportdesk.db import migrate

        known = migrate.revisions()
        quoted = re.search(r"identified by '([^']*)'", message)
        wanted = quoted.group(1) if quoted else "that"
        return CliError(
            f"there is no revision {wanted!r} (this version has {known[0]} to {known[-1]}): "
            "leave it out to upgrade to the newest"
        )
    return CliError(f"cannot migrate: {message}: see `supportdesk db current`")


def _database_error(error: DBAPIError, url: URL | None) -> CliError | None:
    """Errors a driver raises for a database that is missing, refused us, or lacks our tables."""
    driver_error: BaseException = error.orig if error.orig is not None else error
    cause = driver_error.__cause__ or driver_error
    state = getattr(cause, "sqlstate", None)
    message = _first_line(cause)
    where = _server(url)
    if state == "3D000":
        name = url.database if url is not None else "?"
        return CliError(
            f"the database {name!r} does not exist on {where}: create it (`createdb {name}`) or {FIX_URL}"
        )
    if state in {"28000", "28P01"}:
        return CliError(f"PostgreSQL on {where} refused the login ({message}): {FIX_URL} (user and password)")
    if state == "42P01" or message.startswith("no such table"):
        return CliError(
            f"the database lacks the table {_quoted_or_last(message)}, so it is not migrated: {UPGRADE}"
        )
    if message == "unable to open database file":
        return _unopenable_sqlite(url)
    if message == "database is locked":
        return CliError(
            "the SQLite database is locked by another process: try again once that process is done"
        )
    return None


def missing_sqlite_folder(database_url: str) -> CliError | None:
    """The error for a SQLite file whose folder does not exist, found before connecting: the driver's
    failure to open it says less, and can outlive the event loop that asked."""
    url = _parse(database_url)
    if url is None or url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return _unopenable_sqlite(url) if not Path(url.database).parent.exists() else None


def _unopenable_sqlite(url: URL | None) -> CliError:
    path = Path(url.database) if url is not None and url.database else None
    if path is not None and not path.parent.exists():
        return CliError(
            f"cannot open the SQLite database {path}: the folder {path.parent} does not exist: "
            f"create it or {FIX_URL}"
        )
    return CliError(
        f"cannot open the SQLite database {path}: check that this process may read and write it, or {FIX_URL}"
    )


def _unreachable(error: OSError, url: URL | None) -> CliError:
    if isinstance(error, ConnectionRefusedError):
        reason = "connection refused"
    elif isinstance(error, TimeoutError):
        reason = "timed out"
    elif isinstance(error, socket.gaierror):
        reason = "unknown host"
    else:
        reason = error.strerror or _first_line(error)
    if url is not None and url.get_backend_name() == "sqlite":
        return CliError(f"cannot open the SQLite database {url.database} ({reason}): {FIX_URL}")
    return CliError(f"cannot reach PostgreSQL on {_server(url)} ({reason}): start it, or {FIX_URL}")


def _parse(database_url: str | None) -> URL | None:
    if database_url is None:
        return None
    try:
        return make_url(database_url)
    except ArgumentError:
        return None


def _server(url: URL | None) -> str:
    if url is None:
        return "the configured server"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _quoted_or_last(message: str) -> str:
    parts = message.split('"')
    return parts[1] if len(parts) >= 3 else message.rsplit(" ", 1)[-1]


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _sentence(text: str) -> str:
    """A message as the middle of our line: no full stop at the end."""
    return text.strip().rstrip(".")
