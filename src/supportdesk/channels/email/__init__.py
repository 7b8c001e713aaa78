"""Inbound e-mail: reading messages, deciding which ticket each belongs to, and taking them in."""
