"""The whole fault suite again on RabbitMQ, inside the one ``python -m pytest`` run.

A session's broker is fixed when its settings are read (tests/conftest.py), so the RabbitMQ
pass is a second pytest session over ``tests/fault`` with ``CARBON_TEST_BROKER=amqp``: its own
database, Redis key prefix and RabbitMQ vhost. Its scenarios are reported here one by one
(from its JUnit XML) and any failure fails this test with that session's output. Running
``CARBON_TEST_BROKER=amqp python -m pytest tests/fault`` gives the same pass directly (this
test then skips itself), and ``CARBON_FAULT_BROKERS=redis`` leaves it out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.fault import harness

pytestmark = [
    pytest.mark.fault, pytest.mark.integration,
    pytest.mark.skipif(harness.BROKER_KIND == "amqp", reason="this session already is the"
                       " RabbitMQ pass"),
    pytest.mark.skipif(os.environ.get("CARBON_FAULT_BROKERS", "redis,amqp").strip() == "redis",
                       reason="CARBON_FAULT_BROKERS=redis"),
]


@pytest.mark.timeout(1800)
def test_fault_suite_on_rabbitmq(services: None, tmp_path: Path, figures) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "amqp.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["CARBON_TEST_BROKER"] = "amqp"
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/fault", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}"], cwd=harness.ROOT, env=env, capture_output=True, text=True,
        timeout=1750, check=False)
    seconds = time.monotonic() - t0
    assert report.exists(), out.stdout[-5000:] + out.stderr[-3000:]
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcomes[name] = ("failed" if kinds & {"failure", "error"} else
                          "skipped" if "skipped" in kinds else "passed")
    failed = sorted(n for n, o in outcomes.items() if o == "failed")
    assert out.returncode == 0 and not failed, (
        f"on RabbitMQ: {failed}\n" + out.stdout[-20000:] + out.stderr[-3000:])
    # The RabbitMQ-only scenarios ran; every other scenario ran too (none skipped but this one
    # and the Redis restart, which needs a Redis broker).
    assert outcomes["test_rabbitmq_connections_closed::"
                    "test_connections_closed_mid_pipeline_workers_reconnect"] == "passed"
    skipped = sorted(n for n, o in outcomes.items() if o == "skipped")
    assert all(n.startswith(("test_on_rabbitmq::", "test_redis_restarted::"))
               for n in skipped), skipped
    passed = sum(o == "passed" for o in outcomes.values())
    figures(scenarios_passed_on_rabbitmq=passed, skipped=", ".join(skipped),
            seconds=round(seconds, 1))
