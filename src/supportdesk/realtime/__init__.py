"""Live messages to open screens: pub/sub in memory (one process) or over Redis (several)."""
