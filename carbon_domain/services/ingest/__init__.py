"""Uploads in: the ingest of factors, data entries, units and reference data into the database. May
import: services.jobs, services.inputs.
"""
