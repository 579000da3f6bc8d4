"""bench/results/latest.json: every part of the bench merged into one file.

`python -m bench`, `python -m bench --slice it|member` and `python -m bench.stress` each run
some *parts* (``full``, ``incremental``, ``ingest``, ``slice_it``, ``operator_wait_it``,
``stress``, …). Each part owns a set of top-level keys. Writing merges: the keys of the parts
that ran replace that part's previous keys (a key the part no longer writes goes away), the
keys of every other part stay as they were, and ``by_part[part]`` says when (date, git
commit, load average) each part last ran. ``parts``, ``date``, ``commit`` and
``load_average`` at top level describe the latest invocation. A run used to overwrite the
file, so `--slice it` erased the 1M run's figures and the stress size was in another file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Keys of the invocation itself: rewritten by every run, owned by no part.
META_KEYS = ("parts", "date", "commit", "load_average", "machine", "cpus", "python", "by_part")


def summary(values: Iterable[float]) -> dict[str, Any]:
    """Median, min and max of the timed runs of one setting, and the runs themselves."""
    runs = [float(v) for v in values]
    if not runs:
        raise ValueError("no timed run")
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs),
            "runs": runs}


def median_run(runs: list[dict[str, Any]], key: str = "seconds") -> dict[str, Any]:
    """The run whose ``key`` is the median (the lower middle one for an even count), so its
    other figures (shares, chunks) come from the same run as the time reported."""
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[(len(ordered) - 1) // 2]


def size_label(entries: int) -> str:
    """8000000 → "8m", 1500000 → "1.5m", 10000 → "10k", 500 → "500"."""
    for div, unit in ((1_000_000, "m"), (1_000, "k")):
        if entries >= div:
            return f"{entries / div:g}{unit}"
    return str(entries)


def stress_keys(entries: int, seconds: float, latest: Mapping[str, Any],
                day: str) -> dict[str, Any]:
    """``stress_<size>_s`` and ``stress_vs_1m``: the stress time over the 2-worker 1M time of
    the same UTC day (``day``: "YYYY-MM-DD"), from the ``full`` part already in ``latest``;
    None when there is none (the ratio of times measured on different days says nothing on
    this machine, whose disk moves ±20 % between runs)."""
    out: dict[str, Any] = {f"stress_{size_label(entries)}_s": seconds, "stress_vs_1m": None,
                           "stress_1m_reference_s": None}
    full = latest.get("by_part", {}).get("full", {})
    one_m = latest.get("pipeline_2w_s")
    if (latest.get("entries") == 1_000_000 and one_m
            and str(full.get("date", "")).startswith(day)):
        out["stress_vs_1m"] = seconds / float(one_m)
        out["stress_1m_reference_s"] = float(one_m)
    return out


def git_commit() -> str | None:
    try:
        proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return proc.stdout.strip() + ("-dirty" if dirty else "")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def meta(load_start: list[float]) -> dict[str, Any]:
    """Date, commit, machine and load average (start → end) of this invocation."""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": git_commit(), "load_average": [load_start, load_average()],
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version()}


def merge(old: Mapping[str, Any], parts: Mapping[str, Mapping[str, Any]],
          run_meta: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` with each part of ``parts`` (part → its top-level keys) put in place of what
    that part wrote before; the other parts' keys kept."""
    out = dict(old)
    by_part = {k: dict(v) for k, v in dict(old.get("by_part") or {}).items()}
    for part, keys in parts.items():
        clash = [k for k in keys if k in META_KEYS]
        if clash:
            raise ValueError(f"part {part!r} writes reserved keys {clash}")
        for k in by_part.get(part, {}).get("keys", []):
            out.pop(k, None)
        out.update(keys)
        by_part[part] = {"date": run_meta.get("date"), "commit": run_meta.get("commit"),
                         "load_average": run_meta.get("load_average"), "keys": sorted(keys)}
    out.update(run_meta)
    out["parts"] = list(parts)
    out["by_part"] = by_part
    return out


def read(path: Path) -> dict[str, Any]:
    """The merged results so far; {} when there are none or the file is not ours."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write(path: Path, parts: Mapping[str, Mapping[str, Any]],
          run_meta: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``parts`` into ``path`` (written whole through a temporary file, so a bench
    killed mid-write leaves the previous results) and return what was written."""
    merged = merge(read(path), parts, run_meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(merged, indent=2, default=str))
    tmp.replace(path)
    return merged
