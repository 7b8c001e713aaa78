"""Who takes a ticket: round robin, least loaded, by priority, by skill."""
