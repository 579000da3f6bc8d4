"""The outer layer: the HTTP API (``carbon_api.app``) and the ``carbon`` command line
(``carbon_api.cli``). Depends on ``carbon_tasks`` and ``carbon_domain``, never the reverse."""
