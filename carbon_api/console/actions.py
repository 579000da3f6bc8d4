"""What the console's action forms share: starting one operation with the API's own error
mapping (``carbon_api.accepting``), answered as a live pipeline card or the API's sentence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response

from carbon_api.accepting import accept_operation
from carbon_api.console.web import message, render
from carbon_api.errors import ApiError
from carbon_tasks import operations as ops


def start_operation(request: Request, what: str, call: Callable[[], ops.Accepted],
                    **context: Any) -> Response:
    """Run one operation; its Accepted as a live pipeline card, or the API's error text."""
    try:
        acc = accept_operation(what, call)
    except HTTPException as exc:
        return message(request, str(exc.detail), exc.status_code)
    except ApiError as exc:
        return message(request, exc.detail, exc.status_code)
    return render(request, "_started.html", accepted=acc, **context)
