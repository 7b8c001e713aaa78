"""Outbound webhooks in the Standard Webhooks format: signing, safe targets and delivery."""
