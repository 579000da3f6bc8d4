"""Impact preview of an upload: the real ingest inside a rolled-back savepoint, the affected
entries recomputed by the engine, before/after figures stored as a preview to apply or
discard. May import: services.jobs, services.inputs, services.ingest, services.recalc.
"""
