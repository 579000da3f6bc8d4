"""Starting work the same way from the API and the console: one operation of
``carbon_tasks.operations`` run with the API's error mapping, so both show the very same
400/409/422/503 sentences."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import HTTPException

from carbon_api.errors import ApiError, invalid_input
from carbon_api.logging import bind
from carbon_api.schemas import Accepted
from carbon_domain.errors import InvalidInput
from carbon_tasks import operations as ops

log = logging.getLogger("carbon.api")


class _Counter:
    value = 0


# Operations this process accepted: the console's event stream checks it between polls, so a
# pipeline started from the page shows at once instead of after the idle poll interval.
accepted = _Counter()


def accept_operation(what: str, call: Callable[[], ops.Accepted]) -> Accepted:
    """Run one operation: 400 for an unusable file, 503 (job kept) for a broker outage."""
    try:
        acc = call()
    except ops.DispatchFailed as exc:
        a = exc.accepted
        bind(job_id=a.job_id, pipeline_id=a.pipeline_id)
        log.warning("job saved but not dispatched: %s", exc)
        raise ApiError(
            503, f"Job {a.job_id} was saved but the message broker is unreachable "
                 f"({str(exc)[:200]}); it stays NOT_STARTED and is dispatched automatically "
                 "when the broker is back. Do not resubmit.",
            job_id=a.job_id, pipeline_id=a.pipeline_id) from None
    except ops.NothingToRecalculate as exc:
        raise HTTPException(400, str(exc)) from None
    except ops.YearNotProvisioned as exc:
        raise HTTPException(409, str(exc)) from None
    except InvalidInput as exc:  # 422, as FastAPI's own validation of the same request
        raise invalid_input(exc, "query") from None
    except ValueError as exc:  # CsvProblem and other unusable input: nothing was written
        raise HTTPException(400, f"{what} rejected: {exc}") from None
    accepted.value += 1
    bind(job_id=acc.job_id, pipeline_id=acc.pipeline_id)
    log.info("accepted %s: %s", what, acc.message)
    return Accepted(**acc.as_dict())
