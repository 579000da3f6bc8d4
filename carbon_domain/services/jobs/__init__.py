"""What a job and a pipeline are and how they move: the job state machine, job runs (claim, fence,
finish) and their reports, links between jobs, typed meta, pipelines and abort. The base of the
services: imports no other services package.
"""
