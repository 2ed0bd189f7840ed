"""What the step-time scripts share: timing two steps alternately, and writing the JSON."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..experiments.figure import write_atomically


def interleaved(step: Callable[[], float], baseline: Callable[[], float], rounds: int) -> dict[str, float]:
    """Time ``step`` and ``baseline`` (each returns its own seconds) alternately, who goes
    first alternating too, so both see the same machine noise: the median and quartiles of
    the per-round ratios, and each one's median seconds."""
    ratios, times, baseline_times = [], [], []
    for i in range(rounds):
        if i % 2:
            tb, ta = baseline(), step()
        else:
            ta, tb = step(), baseline()
        times.append(ta)
        baseline_times.append(tb)
        ratios.append(ta / tb)
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return {"ratio_median": statistics.median(ratios), "ratio_q1": q1, "ratio_q3": q3,
            "seconds_median": statistics.median(times), "baseline_seconds_median": statistics.median(baseline_times)}


def write_results(path: Path, config: dict[str, Any], results: list[dict[str, Any]]) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps({"config": config, "results": results}, indent=1)))
    print(f"wrote {path}")
