"""Idempotent POSTs: stored responses replayed for a repeated Idempotency-Key."""
