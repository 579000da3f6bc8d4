"""Recalculation and aggregation, the write path: which entries a change affects, planning chunks,
a chunk's rewrite, finishing a job, slice sums, module aggregation, research-facility factors.
May import: services.jobs, services.inputs.
"""
