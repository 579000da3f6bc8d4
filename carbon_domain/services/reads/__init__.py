"""Everything the API, the console and the CLI show: recalculation status and the one display
state, pipeline listings and details, completeness, totals, factor listings, drill-down. Reads
only. May import: services.jobs, services.inputs, services.recalc.
"""
