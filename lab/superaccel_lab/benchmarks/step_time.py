"""Optimizer step time, state memory and compile time: superaccel against torch and peers.

Each row pairs a contender with a torch baseline.  Both own a copy of the same parameters
and gradients; their steps are timed alternately (who goes first alternates too), so both
see the same machine noise, and the ratio of each round is kept: the script reports the
median and the quartiles of the ratios.  Only the optimizer step is timed (gradients are
put back before each step, outside the timing: heavyball consumes them).  Sizes run from
10^4 to 10^8 parameters (200 tensors, fewer for the small sizes).

The physical limit: an elementwise optimizer must read and write its buffers once per step.
``min_bytes`` counts those bytes per parameter; against the bandwidth of an in-place
elementwise kernel measured here (``a.add_(b)``), ``bandwidth_fraction`` says how close a
step comes to the limit.

Compiled steps (``fused=True``, heavyball) compile on their first step: that time is
reported separately, measured with fresh Inductor and C++ extension caches (temporary
directories), so it is what a user sees the first time on a new machine.  On the CPU
superaccel's fused steps run C++ kernels built once for all three optimizers (the first
fused row pays for the build); "SuperAdam fused (Inductor)" times the compiled kernels that
CUDA uses, on this CPU.

    python -m superaccel_lab.benchmarks.step_time                  # full: 1e4..1e8, writes results/step_time.json
    python -m superaccel_lab.benchmarks.step_time --quick          # 1e4..1e6, a few rounds
    python -m superaccel_lab.benchmarks.step_time --only "SuperAdam fused"
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="superaccel-bench-inductor-"))
os.environ.setdefault("TORCH_EXTENSIONS_DIR", tempfile.mkdtemp(prefix="superaccel-bench-extensions-"))

import heavyball  # noqa: E402
import pytorch_optimizer  # noqa: E402
import torch  # noqa: E402
from qhoptim.pyt import QHM, QHAdam  # noqa: E402

from superaccel import SuperAdam, SuperRMSprop, SuperSGD  # noqa: E402
from superaccel.optim import _cpu_kernels  # noqa: E402

from ._timing import interleaved, write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
F32 = 4
warnings.filterwarnings("ignore", category=UserWarning)  # qhoptim uses torch's deprecated add_(scalar, tensor)


def _sgd(**kwargs) -> Callable:
    return lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True, **kwargs)


BASELINES: dict[str, Callable] = {
    "SGD(nesterov) fused": _sgd(fused=True),
    "SGD(nesterov) foreach": _sgd(foreach=True),
    "SGD(nesterov) single": _sgd(foreach=False),
    "RMSprop(momentum) single": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, foreach=False),
    "RMSprop(momentum) foreach": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, foreach=True),
    "Adam fused": lambda p: torch.optim.Adam(p, lr=1e-3, fused=True),
    "Adam foreach": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=True),
    "Adam single": lambda p: torch.optim.Adam(p, lr=1e-3, foreach=False),
}


@dataclass(frozen=True)
class Row:
    contender: str
    build: Callable
    baseline: str
    #: buffers read or written per parameter per step at the least (4 bytes each)
    min_tensors: int
    compiled: bool = False
    #: fused=True through the compiled (Inductor) kernels that CUDA uses, not the CPU's C++ ones
    inductor: bool = False


ROWS = [
    Row("SuperSGD fused", lambda p: SuperSGD(p, lr=1e-3, fused=True), "SGD(nesterov) fused", 5, True),
    Row("SuperSGD foreach", lambda p: SuperSGD(p, lr=1e-3, foreach=True), "SGD(nesterov) foreach", 5),
    Row("SuperSGD single", lambda p: SuperSGD(p, lr=1e-3, foreach=False), "SGD(nesterov) single", 5),
    Row("heavyball SGD", lambda p: heavyball.SGD(p, lr=1e-3, beta=0.9), "SGD(nesterov) fused", 5, True),
    Row("qhoptim QHM", lambda p: QHM(p, lr=1e-2, momentum=0.9, nu=0.7), "SGD(nesterov) fused", 5),
    Row("pytorch_optimizer QHM", lambda p: pytorch_optimizer.QHM(p, lr=1e-2, momentum=0.9, nu=0.7),
        "SGD(nesterov) fused", 5),
    Row("SuperRMSprop fused", lambda p: SuperRMSprop(p, lr=1e-3, fused=True), "RMSprop(momentum) single", 7, True),
    Row("SuperRMSprop fused", lambda p: SuperRMSprop(p, lr=1e-3, fused=True), "RMSprop(momentum) foreach", 7, True),
    Row("SuperRMSprop foreach", lambda p: SuperRMSprop(p, lr=1e-3, foreach=True), "RMSprop(momentum) foreach", 7),
    Row("SuperAdam fused", lambda p: SuperAdam(p, lr=1e-3, fused=True), "Adam fused", 7, True),
    Row("SuperAdam fused", lambda p: SuperAdam(p, lr=1e-3, fused=True), "Adam foreach", 7, True),
    Row("SuperAdam fused (Inductor)", lambda p: SuperAdam(p, lr=1e-3, fused=True), "Adam fused", 7, True, True),
    Row("SuperAdam foreach", lambda p: SuperAdam(p, lr=1e-3, foreach=True), "Adam foreach", 7),
    Row("SuperAdam single", lambda p: SuperAdam(p, lr=1e-3, foreach=False), "Adam single", 7),
    Row("heavyball AdamW", lambda p: heavyball.AdamW(p, lr=1e-3), "Adam fused", 7, True),
    Row("NAdam foreach", lambda p: torch.optim.NAdam(p, lr=1e-3, foreach=True), "Adam foreach", 7),
    Row("qhoptim QHAdam", lambda p: QHAdam(p, lr=1e-3), "Adam fused", 7),
    Row("pytorch_optimizer QHAdam", lambda p: pytorch_optimizer.QHAdam(p, lr=1e-3), "Adam fused", 7),
    Row("pytorch_optimizer Adan", lambda p: pytorch_optimizer.Adan(p, lr=1e-3), "Adam fused", 11),
]


class Bench:
    """An optimizer over its own copy of the parameters, with gradients put back before each step."""

    def __init__(self, build: Callable, total: int, tensors: int, inductor: bool = False) -> None:
        size = total // tensors
        gen = torch.Generator().manual_seed(0)
        self.params = [torch.nn.Parameter(torch.randn(size, generator=gen)) for _ in range(tensors)]
        self.grads = [torch.randn(size, generator=gen) * 1e-3 for _ in range(tensors)]
        self.opt = build(self.params)
        self.inductor = inductor

    def step(self) -> float:
        for p, g in zip(self.params, self.grads, strict=True):
            p.grad = g
        with _cpu_kernels.disabled() if self.inductor else contextlib.nullcontext():
            start = time.perf_counter()
            self.opt.step()
            return time.perf_counter() - start

    def state_bytes(self) -> int:
        """Bytes of tensors in the optimizer state, nested containers (heavyball) and a
        wrapper's base optimizer included."""
        seen: set[int] = set()

        def count(value) -> int:
            if torch.is_tensor(value):
                if id(value) in seen:
                    return 0
                seen.add(id(value))
                return value.numel() * value.element_size()
            if isinstance(value, dict):
                return sum(count(v) for v in value.values())
            if isinstance(value, (list, tuple)):
                return sum(count(v) for v in value)
            return 0

        return sum(count(dict(optimizer.state)) for optimizer in (self.opt, getattr(self.opt, "base_optimizer", None))
                   if optimizer is not None)


def inplace_bandwidth(numel: int = 50_000_000, repeats: int = 5) -> float:
    """Bytes per second of an in-place elementwise kernel, a.add_(b): two reads and a write,
    the access pattern of an optimizer update, the best of a few runs.

    (A plain copy also pays a read-for-ownership of its destination that a 2×bytes count
    does not see, so it understates what in-place kernels reach.)
    """
    a, b = torch.randn(numel), torch.randn(numel)
    a.add_(b)
    best = min(_seconds(lambda: a.add_(b)) for _ in range(repeats))
    return 3 * numel * F32 / best


def _seconds(fn: Callable) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def first_step_seconds(build: Callable, inductor: bool = False, total: int = 10_000, tensors: int = 2) -> float:
    """The first step of a fresh optimizer: for compiled ones, compiling its kernels (for
    superaccel's fused steps on the CPU, loading the C++ kernels: built once per machine)."""
    return Bench(build, total, tensors, inductor).step()


def measure_pair(row: Row, total: int, tensors: int, rounds: int, warmup: int) -> dict:
    a, b = Bench(row.build, total, tensors, row.inductor), Bench(BASELINES[row.baseline], total, tensors)
    for _ in range(warmup):
        a.step()
        b.step()
    return {**interleaved(a.step, b.step, rounds), "state_bytes_per_param": a.state_bytes() / total,
            "baseline_state_bytes_per_param": b.state_bytes() / total}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e4..1e6 parameters, fewer rounds (a few minutes)")
    parser.add_argument("--only", nargs="*", help="contender names to run (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default benchmarks/results/step_time[_quick].json)")
    args = parser.parse_args(argv)
    names = {row.contender for row in ROWS}
    unknown = set(args.only or []) - names
    if unknown:
        parser.error(f"unknown contender(s): {', '.join(sorted(unknown))} (choose from {', '.join(sorted(names))})")
    selected = [row for row in ROWS if not args.only or row.contender in args.only]
    sizes = [10**4, 10**5, 10**6] if args.quick else [10**4, 10**5, 10**6, 10**7, 10**8]
    bandwidth = inplace_bandwidth(10_000_000 if args.quick else 50_000_000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"in-place bandwidth {bandwidth / 1e9:.1f} GB/s (a.add_(b): 2 reads + 1 write)", flush=True)

    compile_seconds = {}
    for name, build, inductor in [(row.contender, row.build, row.inductor) for row in selected if row.compiled] + [
            (baseline, BASELINES[baseline], False) for baseline in ("SGD(nesterov) fused", "Adam fused")]:
        if name not in compile_seconds:
            compile_seconds[name] = first_step_seconds(build, inductor)
            print(f"first step (compiles): {name:<24} {compile_seconds[name]:6.1f} s", flush=True)

    results = []
    for total in sizes:
        tensors = min(200, max(1, total // 5000))
        rounds = 30 if total <= 10**6 else (15 if total <= 10**7 else 7)
        if args.quick:
            rounds = min(rounds, 15)
        for row in selected:
            r = measure_pair(row, total, tensors, rounds, warmup=2)
            min_bytes = row.min_tensors * F32
            r.update(name=row.contender, baseline=row.baseline, params=total, tensors=tensors, rounds=rounds,
                     min_bytes_per_param=min_bytes,
                     bandwidth_fraction=min_bytes * total / r["seconds_median"] / bandwidth)
            results.append(r)
            print(f"{total:>11,} {row.contender:<24} / {row.baseline:<25} ratio {r['ratio_median']:.2f} "
                  f"(IQR {r['ratio_q1']:.2f}-{r['ratio_q3']:.2f})  {1e3 * r['seconds_median']:8.2f} ms  "
                  f"state {r['state_bytes_per_param']:.0f} B/param  {100 * r['bandwidth_fraction']:.0f}% of bandwidth",
                  flush=True)
    out = args.out or RESULTS / ("step_time_quick.json" if args.quick else "step_time.json")
    write_results(out, {"quick": args.quick, "sizes": sizes, "machine": platform.platform(),
                        "threads": torch.get_num_threads(),
                        "torch": torch.__version__, "inplace_bandwidth_bytes_per_s": bandwidth,
                        "first_step_seconds": compile_seconds,
                        "command": " ".join(["python -m superaccel_lab.benchmarks.step_time",
                                             *(argv or sys.argv[1:])])}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
