"""Numbers out: streamed CSV exports of results and data. Reads only. May import: services.reads,
services.inputs.
"""
