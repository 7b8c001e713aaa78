"""The ASGI application for uvicorn and other servers: ``supportdesk.asgi:app``."""

from supportdesk.app import create_app

app = create_app()
