"""E-mail to customers and staff: composed from templates when a change commits, sent by the worker
through the workspace's chain of providers."""
