"""The fused CPU kernels (``csrc/fused_cpu.cpp``), built on first use.

``fused=True`` on the CPU runs one C++ pass over all of a parameter list's tensors per step.
It is built with torch's C++ extension loader (a C++ compiler and ``ninja``, once per
machine; torch keeps the build in ``TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``, and rebuilds it when the source changes).  Where it cannot be
built, ``fused=True`` warns once and falls back to the compiled (Inductor) kernels that
CUDA uses, which are correct and only slower on the CPU for models with many tensors.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).resolve().parent / "csrc" / "fused_cpu.cpp"

# vector instructions the build may use, by torch's reading of this CPU (part of the build's
# name, so that a cache shared by different machines never loads code a CPU cannot run)
_ISA_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mavx2", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}

_module: ModuleType | None = None
_failed = False
_enabled = True


def load() -> ModuleType | None:
    """The built kernels, or ``None`` where they are switched off or cannot be built."""
    global _module, _failed
    if not _enabled:
        return None
    if _module is not None or _failed:
        return _module
    capability = torch.backends.cpu.get_cpu_capability()
    isa = capability if capability in _ISA_FLAGS else "default"
    _find_ninja()
    try:
        from torch.utils.cpp_extension import load as load_extension

        _module = load_extension(
            name=f"superaccel_fused_cpu_{isa.lower()}",
            sources=[str(SOURCE)],
            # -fno-math-errno lets the compiler vectorize sqrt; no -ffast-math, which would
            # change results and the handling of NaN and inf
            extra_cflags=["-O3", "-fopenmp", "-fno-math-errno", *_ISA_FLAGS.get(isa, [])],
            extra_ldflags=["-fopenmp"],
        )
    except Exception as error:  # no compiler, no ninja, no setuptools, a failed build
        _failed = True
        warnings.warn(
            f"superaccel: the fused CPU kernel could not be built ({type(error).__name__}: {_tail(error)}); "
            "fused=True uses the compiled (Inductor) kernel instead, which is slower for models with many "
            "tensors. It needs a C++ compiler and ninja (pip install ninja).",
            RuntimeWarning,
            stacklevel=3,
        )
    return _module


def _tail(error: Exception, lines: int = 3) -> str:
    """The end of an error's message: a failed build's last lines say what was missing."""
    text = [line for line in str(error).splitlines() if line.strip()]
    return " / ".join(text[-lines:])


def _find_ninja() -> None:
    """torch's loader runs ``ninja`` from PATH; a virtual environment's own (``pip install
    ninja``) is not on it unless the environment is activated: put it there."""
    scripts = Path(sys.executable).parent
    if shutil.which("ninja") is None and shutil.which("ninja", path=str(scripts)) is not None:
        os.environ["PATH"] = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run ``fused=True`` on the CPU through the compiled (Inductor) kernels, the CUDA path
    (for tests and benchmarks of that path on a machine without a GPU)."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous
