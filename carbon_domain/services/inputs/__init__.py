"""What the inputs are and how they are read: CSV decoding and header checks, stored upload files,
factor sets (write, retire, revive, load) and the factor index and reference data a slice
computes with. May import: services.jobs.
"""
