"""The whole fault suite again on RabbitMQ, inside the one ``python -m pytest`` run.

The pass is a second pytest session over ``tests/fault`` with ``CARBON_TEST_BROKER=amqp``
(``second_broker.py``: started in the background once this session's fault scenarios are
done; this test runs last and waits for it). Its scenarios are checked one by one from its
JUnit XML and any failure fails this test with that session's output. Running
``CARBON_TEST_BROKER=amqp python -m pytest tests/fault`` gives the same pass directly (this
test then skips itself), and ``CARBON_FAULT_BROKERS=redis`` leaves it out.
"""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from tests.fault import harness, second_broker

pytestmark = [
    pytest.mark.fault, pytest.mark.integration,
    pytest.mark.skipif(harness.BROKER_KIND == "amqp", reason="this session already is the"
                       " RabbitMQ pass"),
    pytest.mark.skipif(os.environ.get("CARBON_FAULT_BROKERS", "redis,amqp").strip() == "redis",
                       reason="CARBON_FAULT_BROKERS=redis"),
]


@pytest.mark.timeout(1800)
def test_fault_suite_on_rabbitmq(services: None, figures) -> None:  # type: ignore[no-untyped-def]
    run = second_broker.start()  # already running unless only this test was selected
    try:
        run.proc.wait(timeout=1750)
    except subprocess.TimeoutExpired:
        second_broker.stop()
        raise
    seconds = time.time() - run.started
    report = run.report
    output = run.log.read_text(errors="replace")
    out = subprocess.CompletedProcess(run.proc.args, run.proc.returncode, output, "")
    assert report.exists(), out.stdout[-5000:] + out.stderr[-3000:]
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcomes[name] = ("failed" if kinds & {"failure", "error"} else
                          "skipped" if "skipped" in kinds else "passed")
    failed = sorted(n for n, o in outcomes.items() if o == "failed")
    first = output.find("= FAILURES =")
    assert out.returncode == 0 and not failed, (
        f"on RabbitMQ: {failed}\n" + (output[first:first + 8000] if first >= 0 else "")
        + "\n...\n" + output[-4000:])
    # The RabbitMQ-only scenarios ran; every other scenario ran too (none skipped but this one,
    # the Redis restart and the chunk lost with its worker, which need a Redis broker, and the
    # Redis-restart repro's expected failure of Celery's own consumer, which JUnit reports as
    # skipped).
    assert outcomes["test_rabbitmq_connections_closed::"
                    "test_connections_closed_mid_pipeline_workers_reconnect"] == "passed"
    skipped = sorted(n for n, o in outcomes.items() if o == "skipped")
    assert all(n.startswith(("test_on_rabbitmq::", "test_redis_restarted::",
                             "test_lost_chunk_surface::"))
               or n.endswith("_with_unacked_message[stock]") for n in skipped), skipped
    assert outcomes["test_redis_restart_repro::"
                    "test_main_process_survives_redis_restart_with_unacked_message[carbon]"
                    ] == "passed"
    passed = sum(o == "passed" for o in outcomes.values())
    figures(scenarios_passed_on_rabbitmq=passed, skipped=", ".join(skipped),
            seconds=round(seconds, 1))
