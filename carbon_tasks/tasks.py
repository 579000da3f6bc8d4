"""Every task module, imported so a worker registers all task names."""

from carbon_tasks.diagnostics import collect, echo  # noqa: F401
