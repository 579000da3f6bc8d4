"""Keeping the system honest over time: the reconciler's decisions (outbox, stuck jobs, missing
aggregations) and the row integrity check. May import every other services package.
"""
