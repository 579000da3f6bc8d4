"""Templates build URLs by route name (``url_path_for``), which answers the first route of
that name: a console page named like an API route linked to the API (the "Factors" link
opened `/v1/factors`, which wants a bearer token). Every named route is unique."""

from __future__ import annotations

from collections import Counter


def test_route_names_are_unique() -> None:
    from carbon_api.app import create_app

    names = Counter(getattr(r, "name", None) for r in create_app().routes)
    repeated = {n: c for n, c in names.items() if n and c > 1}
    assert not repeated, f"route names used twice: {repeated}"
