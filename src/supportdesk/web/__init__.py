"""The agent workspace in the browser: server-rendered pages under ``/app`` (decision 0052)."""
