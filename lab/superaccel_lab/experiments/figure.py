"""One writer for every figure: compute, check the paper's claims, write JSON and PNG.

A figure module defines a :class:`Figure`: ``compute(quick)`` returns the data and the
measured :class:`Claim` s, ``plot(data, fig)`` draws the panels. :func:`run_figure` writes
``DIR/<name>.json`` (``{"figure", "claims", "data", ...}``) and ``DIR/<name>.png``, each
atomically: an interrupted run leaves the previous files or none, never half a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Claim:
    """One statement from the paper's text, as we measured it. ``holds`` is computed."""

    id: str
    statement: str
    measured: str
    holds: bool

    def __post_init__(self) -> None:
        self.holds = bool(self.holds)


@dataclass
class Figure:
    name: str
    title: str
    compute: Callable[[bool], tuple[dict[str, Any], list[Claim]]]
    plot: Callable[[dict[str, Any], Any], None]
    figsize: tuple[float, float] = (12.0, 4.0)
    #: the figure trains on MNIST (``superaccel reproduce`` downloads it first)
    needs_mnist: bool = False


def to_jsonable(value: Any) -> Any:
    """numpy arrays and scalars to lists and floats; inf/nan to strings JSON can hold."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp creates files readable by their owner only; give the result the usual mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run_figure(figure: Figure, out_dir: Path, quick: bool = False) -> dict[str, Any]:
    """Compute ``figure``, write its JSON and PNG into ``out_dir``, return the JSON dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    data, claims = figure.compute(quick)
    result = {
        "figure": figure.name,
        "title": figure.title,
        "quick": quick,
        "claims": [asdict(c) for c in claims],
        "data": to_jsonable(data),
        "seconds": round(time.perf_counter() - start, 2),
    }
    fig = plt.figure(figsize=figure.figsize)
    try:
        figure.plot(data, fig)
        fig.suptitle(figure.title + (" (quick)" if quick else ""), fontsize=10)
        fig.tight_layout()
        write_atomically(out_dir / f"{figure.name}.png", lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    text = json.dumps(result, indent=1)
    write_atomically(out_dir / f"{figure.name}.json", lambda tmp: tmp.write_text(text))
    return result


def local_minima(values: np.ndarray) -> int:
    """Number of strict interior local minima of a sequence, ignoring non-finite entries."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return int(np.sum((finite[1:-1] < finite[:-2]) & (finite[1:-1] < finite[2:])))
