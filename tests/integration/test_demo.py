"""`carbon demo` on a clean directory with no environment: the embedded default."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_whole_story_with_no_configuration(tmp_path: Path) -> None:
    carbon = shutil.which("carbon", path=str(Path(sys.executable).parent)) or "carbon"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "COLUMNS": "120"}
    proc = subprocess.run([carbon, "demo"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Totals 2025 (after the first pipeline run)" in out
    assert "university" in out
    # Stale after the factor revision, then fresh after recalculating only that type.
    stale_at = out.index("equipment/it: stale")
    fresh_at = out.index("all types fresh (pipeline SUCCESS)")
    assert stale_at < fresh_at
    assert "Totals 2025 (after the revision)" in out
    assert "equipment rollup (2025)" in out and "equipment__it" in out
    assert (tmp_path / ".carbon" / "demo.db").exists()
    # The sample files stay under .carbon/samples/, and the output says where.
    samples = tmp_path / ".carbon" / "samples"
    assert "Sample files" in out and str(samples) in out.replace("\n", "")
    assert (samples / "units.csv").read_text().startswith("institutional_code,")
    assert list((samples / "factors").glob("11_it*_revised.csv"))
    assert len(list((samples / "data_entries").glob("*.csv"))) >= 10
    assert "Traceback" not in out
    # Issue 13's polish: Celery's "No hostname was supplied" (printed twice) and other
    # warnings stay out of the demo's output.
    assert "No hostname was supplied" not in out
    assert "WARNING" not in out
    # The CLI is told how to reach the demo's database (its default is another file, so a
    # `carbon ingest` as first suggested landed where the demo never looks), and the command
    # printed works from anywhere: the demo's types, up to date, with their entries.
    (url,) = re.findall(r"CARBON_DATABASE_URL=(\S+) carbon status -y 2025", out)
    status = subprocess.run([carbon, "status", "-y", "2025", "--json"], cwd="/",
                            env={**env, "CARBON_DATABASE_URL": url}, capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    types = {t["data_entry_type_name"]: t for m in json.loads(status.stdout)
             for t in m["data_entry_types"]}
    assert types["it"]["state"] == "up_to_date" and types["it"]["entry_count"] > 0
