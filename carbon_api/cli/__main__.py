"""``python -m carbon_api.cli`` is the same as the ``carbon`` console script."""

from carbon_api.cli import app

app(prog_name="carbon")
