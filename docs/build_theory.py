"""Regenerate docs/theory.md's tables and figures (``make docs`` runs this).

Everything between ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->`` in a doc is
rewritten from the figures' JSON; the prose around it is written by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from superaccel_lab.experiments import get_figure
from superaccel_lab.experiments.figure import run_figure, write_atomically
from superaccel_lab.experiments.report import claims_table

DOCS = Path(__file__).resolve().parent


def sigma_star_table(fig2: dict) -> str:
    data = fig2["data"]
    rows = ["| kη | σ* from fits | exact σ* (map) | Eq. (12) | Eq. (13) | Eq. (14) |", "|---|---|---|---|---|---|"]
    odes = data["sigma_star_ode"]
    for i, k_eta in enumerate(data["k_etas"]):
        rows.append(f"| {k_eta:.4g} | {data['sigma_star_fitted'][i]:.2f} | {data['sigma_star_exact'][i]:.2f} | "
                    f"{odes['9'][i]:.2f} | {odes['10'][i]:.2f} | {odes['11'][i]:.2f} |")
    return "\n".join(rows)


def replace_block(text: str, name: str, content: str) -> str:
    pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- end:{name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"docs block {name!r} not found")
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), text)


def build_theory_doc(figures_dir: Path = DOCS / "reproduction") -> None:
    results = {name: run_figure(get_figure(name), figures_dir) for name in ("fig1", "fig2", "fig7")}
    for name in results:  # the pictures are the reproduction snapshot's; the JSON lives in results/
        (figures_dir / f"{name}.json").unlink()
    path = DOCS / "theory.md"
    text = replace_block(path.read_text(), "sigma-star", sigma_star_table(results["fig2"]))
    for name, result in results.items():
        text = replace_block(text, f"claims-{name}", claims_table(result))
    write_atomically(path, lambda tmp: tmp.write_text(text))


if __name__ == "__main__":
    build_theory_doc()
    sys.exit(0)
