"""Median optimizer step-time ratio: superaccel against torch's own optimizers.

Each pair of optimizers owns its own copy of the same parameters (10M in 200 tensors by
default) and gradients; their steps are timed alternately, so both see the same machine
noise, and the script prints the median and the spread of the per-round ratios.  Only the
optimizer step is timed, not forward/backward.

    python benchmarks/step_time.py                       # foreach paths, CPU
    python benchmarks/step_time.py --foreach 0           # single-tensor paths
    python benchmarks/step_time.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superaccel import SuperAdam, SuperRMSprop, SuperSGD  # noqa: E402

PAIRS = {
    "SuperSGD vs SGD(nesterov)": (
        lambda p, fe: SuperSGD(p, lr=1e-3, momentum=0.9, sigma=2.0, foreach=fe),
        lambda p, fe: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True, foreach=fe),
    ),
    "SuperRMSprop vs RMSprop(momentum)": (
        lambda p, fe: SuperRMSprop(p, lr=1e-3, momentum=0.9, sigma=2.0, foreach=fe),
        lambda p, fe: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, foreach=fe),
    ),
    "SuperAdam vs Adam": (
        lambda p, fe: SuperAdam(p, lr=1e-3, sigma=2.0, foreach=fe),
        lambda p, fe: torch.optim.Adam(p, lr=1e-3, foreach=fe),
    ),
}


def make_params(total: int, tensors: int, device: str) -> list[torch.nn.Parameter]:
    size = total // tensors
    gen = torch.Generator().manual_seed(0)
    params = []
    for _ in range(tensors):
        p = torch.nn.Parameter(torch.randn(size, generator=gen).to(device))
        p.grad = torch.randn(size, generator=gen).to(device)
        params.append(p)
    return params


def timed_step(opt: torch.optim.Optimizer, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(make_ours, make_theirs, *, total, tensors, device, foreach, rounds, warmup):
    ours = make_ours(make_params(total, tensors, device), foreach)
    theirs = make_theirs(make_params(total, tensors, device), foreach)
    for _ in range(warmup):
        timed_step(ours, device)
        timed_step(theirs, device)
    ratios, ours_t, theirs_t = [], [], []
    for i in range(rounds):
        # alternate who goes first, so neither always runs on a warmer cache
        if i % 2:
            b, a = timed_step(theirs, device), timed_step(ours, device)
        else:
            a, b = timed_step(ours, device), timed_step(theirs, device)
        ours_t.append(a)
        theirs_t.append(b)
        ratios.append(a / b)
    quartiles = statistics.quantiles(ratios, n=4)
    return {
        "ratio_median": statistics.median(ratios),
        "ratio_q1": quartiles[0],
        "ratio_q3": quartiles[2],
        "ours_ms_median": 1e3 * statistics.median(ours_t),
        "torch_ms_median": 1e3 * statistics.median(theirs_t),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--tensors", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--foreach", type=int, choices=[0, 1], default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.params < args.tensors or args.tensors < 1:
        parser.error(f"--params ({args.params}) must be at least --tensors ({args.tensors}) >= 1")
    foreach = bool(args.foreach)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"{args.params:,} parameters in {args.tensors} tensors, foreach={foreach}, {args.rounds} rounds")
    results = {}
    for name, (make_ours, make_theirs) in PAIRS.items():
        results[name] = measure(make_ours, make_theirs, total=args.params, tensors=args.tensors,
                                device=args.device, foreach=foreach, rounds=args.rounds, warmup=args.warmup)
        r = results[name]
        print(f"{name:<36} ratio {r['ratio_median']:.3f} (IQR {r['ratio_q1']:.3f}-{r['ratio_q3']:.3f})  "
              f"ours {r['ours_ms_median']:.1f} ms, torch {r['torch_ms_median']:.1f} ms")
    if args.json:
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps({"config": vars(args) | {"json": str(args.json)}, "results": results}, indent=2))
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
