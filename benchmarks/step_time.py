"""Optimizer step time and state memory: superaccel against torch and the peer packages.

Each contender is paired with a torch baseline (SGD(nesterov), RMSprop(momentum) or Adam).
Both own a copy of the same parameters and gradients; their steps are timed alternately
(who goes first alternates too), so both see the same machine noise, and the ratio of each
round is kept: the script reports the median and the quartiles of the ratios. Only the
optimizer step is timed. Sizes run from 10^4 to 10^8 parameters (200 tensors, fewer for the
small sizes).

The physical limit: an elementwise optimizer must read and write its buffers once per step.
``min_bytes`` counts those bytes per parameter; against the bandwidth of an in-place
elementwise kernel measured here (``a.add_(b)``), ``bandwidth_fraction`` says how close a
step comes to the limit.

    python benchmarks/step_time.py                  # full: 1e4..1e8, writes benchmarks/results/step_time.json
    python benchmarks/step_time.py --quick          # 1e4..1e6, a few rounds
    python benchmarks/step_time.py --foreach 0      # single-tensor paths
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytorch_optimizer  # noqa: E402
from qhoptim.pyt import QHM, QHAdam  # noqa: E402

from superaccel import SuperAccelerate, SuperAdam, SuperRMSprop, SuperSGD  # noqa: E402
from superaccel.experiments.figure import write_atomically  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
F32 = 4
warnings.filterwarnings("ignore", category=UserWarning)  # qhoptim uses torch's deprecated add_(scalar, tensor)

BASELINES = {
    "SGD(nesterov)": (lambda p, fe: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True, foreach=fe), 5),
    "RMSprop(momentum)": (lambda p, fe: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, foreach=fe), 7),
    "Adam": (lambda p, fe: torch.optim.Adam(p, lr=1e-3, foreach=fe), 7),
}
# name: (builder, baseline, tensors read + written per parameter per step at the least)
CONTENDERS = {
    "SuperSGD": (lambda p, fe: SuperSGD(p, lr=1e-3, sigma=2.0, foreach=fe), "SGD(nesterov)", 5),
    "qhoptim QHM": (lambda p, fe: QHM(p, lr=1e-2, momentum=0.9, nu=0.7), "SGD(nesterov)", 5),
    "pytorch_optimizer QHM": (lambda p, fe: pytorch_optimizer.QHM(p, lr=1e-2, momentum=0.9, nu=0.7),
                              "SGD(nesterov)", 5),
    "SuperRMSprop": (lambda p, fe: SuperRMSprop(p, lr=1e-3, sigma=2.0, foreach=fe), "RMSprop(momentum)", 7),
    "SuperAdam": (lambda p, fe: SuperAdam(p, lr=1e-3, sigma=2.0, foreach=fe), "Adam", 9),
    "SuperAccelerate(Adam)": (lambda p, fe: SuperAccelerate(torch.optim.Adam(p, lr=1e-3, foreach=fe)), "Adam", 9),
    "NAdam": (lambda p, fe: torch.optim.NAdam(p, lr=1e-3, foreach=fe), "Adam", 7),
    "qhoptim QHAdam": (lambda p, fe: QHAdam(p, lr=1e-3), "Adam", 7),
    "pytorch_optimizer QHAdam": (lambda p, fe: pytorch_optimizer.QHAdam(p, lr=1e-3), "Adam", 7),
    "pytorch_optimizer Adan": (lambda p, fe: pytorch_optimizer.Adan(p, lr=1e-3), "Adam", 11),
}


def make_params(total: int, tensors: int) -> list[torch.nn.Parameter]:
    size = total // tensors
    gen = torch.Generator().manual_seed(0)
    params = []
    for _ in range(tensors):
        p = torch.nn.Parameter(torch.randn(size, generator=gen))
        p.grad = torch.randn(size, generator=gen) * 1e-3
        params.append(p)
    return params


def timed_step(opt) -> float:
    start = time.perf_counter()
    opt.step()
    return time.perf_counter() - start


def state_bytes(opt) -> int:
    """Bytes of tensors in the optimizer state (a wrapper's base optimizer included)."""
    seen, total = set(), 0
    for optimizer in (opt, getattr(opt, "base_optimizer", None)):
        if optimizer is None:
            continue
        for state in optimizer.state.values():
            for value in state.values():
                if torch.is_tensor(value) and id(value) not in seen:
                    seen.add(id(value))
                    total += value.numel() * value.element_size()
    return total


def copy_bandwidth(numel: int = 50_000_000, repeats: int = 5) -> float:
    """Bytes per second of an in-place elementwise kernel, a.add_(b): two reads and a write,
    the access pattern of an optimizer update, the best of a few runs.

    (A plain copy also pays a read-for-ownership of its destination that a 2×bytes count
    does not see, so it understates what in-place kernels reach.)
    """
    a, b = torch.randn(numel), torch.randn(numel)
    a.add_(b)
    best = min(_time(lambda: a.add_(b)) for _ in range(repeats))
    return 3 * numel * F32 / best


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_pair(make_a, make_b, total, tensors, foreach, rounds, warmup) -> dict:
    a, b = make_a(make_params(total, tensors), foreach), make_b(make_params(total, tensors), foreach)
    for _ in range(warmup):
        timed_step(a)
        timed_step(b)
    ratios, a_times, b_times = [], [], []
    for i in range(rounds):
        if i % 2:
            tb, ta = timed_step(b), timed_step(a)
        else:
            ta, tb = timed_step(a), timed_step(b)
        a_times.append(ta)
        b_times.append(tb)
        ratios.append(ta / tb)
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    result = {"ratio_median": statistics.median(ratios), "ratio_q1": q1, "ratio_q3": q3,
              "seconds_median": statistics.median(a_times), "baseline_seconds_median": statistics.median(b_times),
              "state_bytes_per_param": state_bytes(a) / total, "baseline_state_bytes_per_param": state_bytes(b) / total}
    del a, b
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e4..1e6 parameters, fewer rounds (about a minute)")
    parser.add_argument("--foreach", type=int, choices=[0, 1], default=1)
    parser.add_argument("--only", nargs="*", help="contender names to run (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/step_time[_quick].json)")
    args = parser.parse_args(argv)
    unknown = set(args.only or []) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contender(s): {', '.join(sorted(unknown))}")
    sizes = [10**4, 10**5, 10**6] if args.quick else [10**4, 10**5, 10**6, 10**7, 10**8]
    foreach = bool(args.foreach)
    bandwidth = copy_bandwidth(10_000_000 if args.quick else 50_000_000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, foreach={foreach}, "
          f"in-place bandwidth {bandwidth / 1e9:.1f} GB/s (a.add_(b): 2 reads + 1 write)")
    results = []
    for total in sizes:
        tensors = min(200, max(1, total // 5000))
        rounds = 30 if total <= 10**6 else (15 if total <= 10**7 else 7)
        if args.quick:
            rounds = min(rounds, 15)
        for name, (build, baseline, min_tensors) in CONTENDERS.items():
            if args.only and name not in args.only:
                continue
            r = measure_pair(build, BASELINES[baseline][0], total, tensors, foreach, rounds, warmup=2)
            min_bytes = min_tensors * F32
            r.update(name=name, baseline=baseline, params=total, tensors=tensors, rounds=rounds,
                     min_bytes_per_param=min_bytes,
                     bandwidth_fraction=min_bytes * total / r["seconds_median"] / bandwidth)
            results.append(r)
            print(f"{total:>11,} {name:<26} / {baseline:<18} ratio {r['ratio_median']:.2f} "
                  f"(IQR {r['ratio_q1']:.2f}-{r['ratio_q3']:.2f})  {1e3 * r['seconds_median']:8.2f} ms  "
                  f"state {r['state_bytes_per_param']:.0f} B/param  {100 * r['bandwidth_fraction']:.0f}% of bandwidth")
    out = args.out or RESULTS / ("step_time_quick.json" if args.quick else "step_time.json")
    payload = {"config": {"quick": args.quick, "foreach": foreach, "sizes": sizes, "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "copy_bandwidth_bytes_per_s": bandwidth,
                          "command": " ".join(["python", "benchmarks/step_time.py", *(argv or sys.argv[1:])])},
               "results": results}
    write_atomically(out, lambda tmp: tmp.write_text(json.dumps(payload, indent=1)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
