"""Benchmarks; each module runs as a script (see docs/performance.md)."""
