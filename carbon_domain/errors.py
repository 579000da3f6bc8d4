"""The errors the application raises on purpose, in one hierarchy (docs/design.md §10).

Every deliberate refusal is a :class:`CarbonError`; its :class:`ErrorKind` says what it means
to whoever asked, in the domain's words. The edges turn a kind into their own answer once:
the API's status codes and the console's messages in ``carbon_api/errors.py``, the CLI's one
red line in ``carbon_api/cli/common.py``. An exception outside this hierarchy (a bare
``ValueError`` or ``KeyError`` included) is a bug: it is logged with its traceback and
answered as an internal error, never blamed on the user's input.

    CarbonError
    ├── InvalidInput (ValueError)  one value of the request is not acceptable
    ├── Unusable (ValueError)      the request as a whole cannot be used; nothing was written
    ├── NotFound (LookupError)     what the request names does not exist
    ├── Conflict                   the current state does not allow it (yet)
    ├── Gone                       it existed but expired
    └── Unavailable                a service it needs (broker) cannot be reached now

The built-in bases stay so that callers which caught ``ValueError``/``LookupError`` before
the hierarchy existed still do; the edges look only at the kind.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID = "invalid"
    UNUSABLE = "unusable"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    GONE = "gone"
    UNAVAILABLE = "unavailable"


class CarbonError(Exception):
    """A deliberate refusal; ``str(error)`` is the one sentence shown to the user."""

    kind: ErrorKind  # set by each class below (by the instance for Refused)


class InvalidInput(CarbonError, ValueError):
    """One value the request names is refused before anything is written (``field`` names
    it). The API answers it in FastAPI's validation-error shape, ``loc`` from ``field``."""

    kind = ErrorKind.INVALID

    def __init__(self, message: str, *, field: str, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class Unusable(CarbonError, ValueError):
    """The request cannot be used as a whole (an unreadable file, nothing to recalculate);
    nothing was written."""

    kind = ErrorKind.UNUSABLE


class NotFound(CarbonError, LookupError):
    kind = ErrorKind.NOT_FOUND


class Conflict(CarbonError):
    kind = ErrorKind.CONFLICT


class Gone(CarbonError):
    kind = ErrorKind.GONE


class Unavailable(CarbonError):
    kind = ErrorKind.UNAVAILABLE


class Refused(CarbonError):
    """A refusal whose kind depends on the case (a revert, applying a preview): raised as
    ``Refused(ErrorKind.CONFLICT, "…")``, so one class names the operation that refused."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
