"""Inbound channels: how requests reach the desk other than through its API."""
