"""supportdesk: a self-hosted customer-support platform."""

__version__ = "0.1.0"
