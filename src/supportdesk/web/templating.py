"""The pages' templates and static files: one Jinja2 environment that escapes everything it prints.

Autoescaping is on for every template whatever its name, so a ticket title, a comment or an e-mail
address a customer wrote is printed as text, never as markup; nothing here marks text as safe. Static
files are addressed with a hash of their content (``/app/static/app.css?v=...``), so a browser that
kept an old copy asks for the new one as soon as it changes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from supportdesk.tickets.attachments import served_as

PACKAGE_DIRECTORY = Path(str(files("supportdesk.web")))
TEMPLATES_DIRECTORY = PACKAGE_DIRECTORY / "templates"
STATIC_DIRECTORY = PACKAGE_DIRECTORY / "static"
STATIC_PATH = "/app/static"


def _content_versions(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


class StaticFiles:
    """Where the pages' static files are served from, each addressed with its content's version."""

    def __init__(self, directory: Path = STATIC_DIRECTORY, path: str = STATIC_PATH) -> None:
        self.directory = directory
        self.path = path
        self.versions = _content_versions(directory)

    def url(self, name: str) -> str:
        """The address of static file ``name``; an unknown name is a mistake in a template."""
        return f"{self.path}/{name}?v={self.versions[name]}"


def format_time(value: datetime | None) -> str:
    """A moment as people read it on the pages, in UTC (the browser shows its own time zone when its
    script runs)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float) -> str:
    """A length of time in the two largest units that matter: ``2 d 4 h``, ``3 h 12 min``, ``45 min``."""
    minutes = int(abs(seconds)) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def until(due: datetime, now: datetime) -> str:
    """How far away ``due`` is from ``now``: ``in 3 h 12 min``, or ``12 min overdue``."""
    seconds = (due - now).total_seconds()
    if seconds >= 0:
        return f"in {format_duration(seconds)}"
    return f"{format_duration(seconds)} overdue"


def format_size(size: int) -> str:
    """A file's size as people read it: ``812 bytes``, ``14 KB``, ``2.3 MB``."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.1f} MB"


# Words that are not written as the value reads.
_LABELS = {"api": "API"}


def label(value: object) -> str:
    """An enum value or a field name as a word on the page: ``in_progress`` reads ``In progress``."""
    text = str(getattr(value, "value", value))
    if text in _LABELS:
        return _LABELS[text]
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:]


def build_environment(static: StaticFiles) -> Environment:
    """The templates' environment: autoescaped, strict about undefined names, compiled once."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIRECTORY),
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["static"] = static.url
    environment.filters["when"] = format_time
    environment.filters["iso"] = lambda value: value.isoformat() if value is not None else ""
    environment.filters["duration"] = format_duration
    environment.filters["label"] = label
    environment.filters["filesize"] = format_size
    # Whether an attachment of this declared type is a picture its download route serves inline: only
    # those are shown as thumbnails, since every other type is served as bytes to download.
    environment.filters["picture"] = lambda content_type: served_as(content_type)[1] == "inline"
    environment.globals["until"] = until
    return environment


class Pages:
    """Renders the pages' templates."""

    def __init__(self, static: StaticFiles | None = None) -> None:
        self.static = static or StaticFiles()
        self.environment = build_environment(self.static)

    def render(self, name: str, **context: Any) -> str:
        """The HTML of template ``name`` with ``context``."""
        return self.environment.get_template(name).render(**context)
