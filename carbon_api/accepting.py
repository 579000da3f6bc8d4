"""Starting work the same way from the API and the console: one operation of
``carbon_tasks.operations`` run with the API's error mapping (``carbon_api/errors.py``), so
both show the very same 400/409/422/503 sentences."""

from __future__ import annotations

import logging
from collections.abc import Callable

from carbon_api.errors import ApiError, http_error, status_of
from carbon_api.logging import bind
from carbon_api.schemas import Accepted
from carbon_domain.errors import CarbonError
from carbon_domain.services.inputs.csv_input import CsvProblem
from carbon_tasks import operations as ops

log = logging.getLogger("carbon.api")


class _Counter:
    value = 0


# Operations this process accepted: the console's event stream checks it between polls, so a
# pipeline started from the page shows at once instead of after the idle poll interval.
accepted = _Counter()


def accept_operation(what: str, call: Callable[[], ops.Accepted]) -> Accepted:
    """Run one operation. A refusal answers by its kind (an unusable file also names the
    upload it refused); a broker outage is 503 with the saved job's id. Any other exception
    is a bug and propagates (a logged 500), never a 400 blaming the request."""
    try:
        acc = call()
    except ops.DispatchFailed as exc:
        a = exc.accepted
        bind(job_id=a.job_id, pipeline_id=a.pipeline_id)
        log.warning("job saved but not dispatched: %s", exc)
        raise ApiError(
            status_of(exc), f"Job {a.job_id} was saved but the message broker is unreachable "
                            f"({str(exc)[:200]}); it stays NOT_STARTED and is dispatched "
                            "automatically when the broker is back. Do not resubmit.",
            job_id=a.job_id, pipeline_id=a.pipeline_id) from None
    except CsvProblem as exc:  # nothing was written
        raise http_error(CsvProblem(f"{what} rejected: {exc}")) from None
    except CarbonError as exc:
        raise http_error(exc) from None
    accepted.value += 1
    bind(job_id=acc.job_id, pipeline_id=acc.pipeline_id)
    log.info("accepted %s: %s", what, acc.message)
    return Accepted(**acc.as_dict())
