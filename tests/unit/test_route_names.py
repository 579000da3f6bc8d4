"""Templates build URLs by route name (``url_path_for``), which answers the first route of
that name: a console page named like an API route linked to the API (the "Factors" link
opened `/v1/factors`, which wants a bearer token). Every named route is unique."""

from __future__ import annotations

from collections import Counter
from typing import Any


def _named(routes: list[Any]) -> list[str]:
    """Route names, looking inside included routers (FastAPI keeps them nested)."""
    out = []
    for r in routes:
        inner = getattr(getattr(r, "original_router", None), "routes", None)
        if inner is not None:
            out += _named(inner)
        elif getattr(r, "name", None):
            out.append(r.name)
    return out


def test_route_names_are_unique() -> None:
    from carbon_api.app import create_app

    names = Counter(_named(create_app().routes))
    assert len(names) > 50
    repeated = {n: c for n, c in names.items() if n and c > 1}
    assert not repeated, f"route names used twice: {repeated}"
