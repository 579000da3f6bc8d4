"""Benchmarks: `python -m bench --entries 1000000` (see README "Performance")."""
