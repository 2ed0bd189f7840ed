"""``reproduce all``: every figure, then a report people can read (``DIR/report.md``).

A figure that fails does not stop the others; the report says what failed and why.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from . import FIGURE_NAMES, get_figure
from .figure import run_figure, write_atomically


def claims_table(result: dict) -> str:
    """A Markdown table of a figure's claims: the paper says / we measured / holds."""
    rows = ["| claim | the paper says | we measured | holds |", "|---|---|---|---|"]
    for claim in result["claims"]:
        rows.append(f"| {claim['id']} | {claim['statement']} | {claim['measured']} | "
                    f"{'yes' if claim['holds'] else '**no**'} |")
    return "\n".join(rows)


def environment() -> dict[str, str]:
    import scipy

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch threads": str(torch.get_num_threads()),
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(),
    }


def reproduce_all(out_dir: Path, quick: bool = False, log=print) -> dict[str, dict]:
    start = time.perf_counter()
    outcomes: dict[str, dict] = {}
    for index, name in enumerate(FIGURE_NAMES, 1):
        log(f"[{index}/{len(FIGURE_NAMES)}] {name} ...")
        try:
            result = run_figure(get_figure(name), out_dir, quick=quick)
            outcomes[name] = {"result": result}
            holding = sum(c["holds"] for c in result["claims"])
            log(f"    {holding}/{len(result['claims'])} claims hold ({result['seconds']:.1f} s)")
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - one failing figure must not stop the others
            outcomes[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            log(f"    FAILED: {type(error).__name__}: {error}")
    total = time.perf_counter() - start
    text = render(outcomes, total, quick)
    write_atomically(out_dir / "report.md", lambda tmp: tmp.write_text(text))
    log(f"report: {out_dir / 'report.md'} ({total:.0f} s)")
    return outcomes


def render(outcomes: dict[str, dict], seconds: float, quick: bool) -> str:
    claims = [c for o in outcomes.values() if "result" in o for c in o["result"]["claims"]]
    failed = [name for name, o in outcomes.items() if "error" in o]
    lines = [
        "# superaccel: the paper's figures, reproduced",
        "",
        f"{sum(c['holds'] for c in claims)} of {len(claims)} measured claims hold"
        + (f"; {len(failed)} figure(s) failed: {', '.join(failed)}" if failed else "")
        + f". Run time {seconds:.0f} s{' (quick mode: coarser grids)' if quick else ''}.",
        "",
        "Each claim is one statement of the paper, measured by our code; `holds` is computed from the run, "
        "and a claim that does not reproduce says what we measured instead.",
        "",
        "## Environment",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in environment().items()],
        f"| command | `{' '.join(sys.argv)}` |",
        "",
    ]
    for name, outcome in outcomes.items():
        if "error" in outcome:
            lines += [f"## {name}: FAILED", "", "```", outcome["traceback"].strip(), "```", ""]
            continue
        result = outcome["result"]
        lines += [f"## {result['title']}", "", f"![{name}]({name}.png)", "",
                  claims_table(result), "", *[f"- {note}" for note in result["data"].get("notes", [])],
                  "", f"Data: `{name}.json` ({result['seconds']:.1f} s).", ""]
    return "\n".join(lines)
