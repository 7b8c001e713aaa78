"""Notifications to staff: an in-app inbox per user."""
