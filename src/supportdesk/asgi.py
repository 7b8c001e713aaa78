"""The ASGI application for uvicorn and other servers: ``supportdesk.asgi:app``."""

import sys

from supportdesk.app import create_app
from supportdesk.config import get_settings
from supportdesk.config.errors import SettingsError

try:
    settings = get_settings()
except SettingsError as error:
    # One clear line instead of a traceback when a server imports the app with a bad setting.
    print(f"error: {error}", file=sys.stderr)  # noqa: T201
    raise SystemExit(2) from None

app = create_app(settings)
