"""Background jobs and the scheduler that runs them once per tick across processes."""
