"""The CUDA check, for a machine with a GPU: correctness of every implementation on the
device, then step time of the fused kernels (Triton, through Inductor) against torch's
fused CUDA kernels.  One short run (a few minutes), one JSON file.

    python -m superaccel_lab.benchmarks.cuda_check --out cuda_check.json

1. Each optimizer's single-tensor, foreach and fused paths on CUDA tensors agree (float64,
   300 steps, σ and lr changing every step: to 1e-10; float32: to 1e-5 relative), and the
   fused path compiles nothing after its first step.
2. Median step time, interleaved rounds, at 1e7 and 1e8 parameters in 200 tensors:
   SuperAdam(fused) / Adam(fused), SuperSGD(fused) / SGD(nesterov, fused),
   SuperRMSprop(fused) / RMSprop(foreach), with the first (compiling) step separately.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch._dynamo.utils import counters

from superaccel import SuperAdam, SuperRMSprop, SuperSGD

OPTIMIZERS = {
    "SuperSGD": (lambda p, **kw: SuperSGD(p, lr=0.02, weight_decay=1e-3, **kw),
                 lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True, fused=True)),
    "SuperRMSprop": (lambda p, **kw: SuperRMSprop(p, lr=1e-3, weight_decay=1e-3, **kw),
                     lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, foreach=True)),
    "SuperAdam": (lambda p, **kw: SuperAdam(p, lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True, **kw),
                  lambda p: torch.optim.Adam(p, lr=1e-3, fused=True)),
}
IMPLS = {"single": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def trajectory(make, impl: dict, dtype: torch.dtype, steps: int = 300) -> tuple[torch.Tensor, list[int]]:
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(64, 16, generator=gen, device="cuda", dtype=dtype)
    y = torch.randn(64, 4, generator=gen, device="cuda", dtype=dtype)
    w1 = torch.nn.Parameter(torch.randn(16, 32, generator=gen, device="cuda", dtype=dtype) * 0.3)
    w2 = torch.nn.Parameter(torch.randn(32, 4, generator=gen, device="cuda", dtype=dtype) * 0.3)
    opt = make([w1, w2], **impl)
    graphs = []
    for i in range(steps):
        for group in opt.param_groups:
            group["sigma"] = 2.5 + 2.5 * math.sin(0.37 * i)
            group["lr"] = group["lr"] * 0.999
        opt.zero_grad()
        ((torch.tanh(x @ w1) @ w2 - y) ** 2).mean().backward()
        opt.step()
        graphs.append(counters["stats"]["unique_graphs"])
    opt.eval()
    return torch.cat([w1.detach().flatten(), w2.detach().flatten()]), graphs


def correctness() -> dict:
    out = {}
    for name, (make, _) in OPTIMIZERS.items():
        for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
            reference, _ = trajectory(make, IMPLS["single"], dtype)
            for impl in ("foreach", "fused"):
                got, graphs = trajectory(make, IMPLS[impl], dtype)
                err = ((got - reference).abs().max() / reference.abs().max()).item()
                out[f"{name} {impl} {dtype}"] = {"max_relative_difference": err, "agrees": err <= tol,
                                                 "graphs_after_first_step_constant": graphs[1] == graphs[-1]}
                print(f"{name:<13} {impl:<8} {str(dtype):<14} rel diff {err:.2e} "
                      f"{'ok' if err <= tol else 'DIFFERS'}", flush=True)
    return out


def step_times() -> list[dict]:
    rows = []
    for total in (10**7, 10**8):
        size = total // 200
        for name, (make, baseline) in OPTIMIZERS.items():
            benches = []
            for build in (lambda p: make(p, fused=True), baseline):
                gen = torch.Generator(device="cuda").manual_seed(0)
                params = [torch.nn.Parameter(torch.randn(size, generator=gen, device="cuda")) for _ in range(200)]
                for p in params:
                    p.grad = torch.randn(size, generator=gen, device="cuda") * 1e-3
                opt = build(params)
                torch.cuda.synchronize()
                start = time.perf_counter()
                opt.step()
                torch.cuda.synchronize()
                benches.append((opt, time.perf_counter() - start))
            times = ([], [])
            for i in range(21):
                order = (0, 1) if i % 2 else (1, 0)
                for k in order:
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    benches[k][0].step()
                    torch.cuda.synchronize()
                    times[k].append(time.perf_counter() - start)
            ratio = statistics.median(a / b for a, b in zip(*times, strict=True))
            row = {"params": total, "name": f"{name}(fused)", "baseline": type(benches[1][0]).__name__,
                   "ratio_median": ratio, "ms": 1e3 * statistics.median(times[0]),
                   "baseline_ms": 1e3 * statistics.median(times[1]), "first_step_s": benches[0][1]}
            rows.append(row)
            print(f"{total:.0e} {row['name']:<20} / {row['baseline']:<8} ratio {ratio:.2f} ({row['ms']:.2f} ms "
                  f"vs {row['baseline_ms']:.2f} ms; first step {row['first_step_s']:.1f} s)", flush=True)
            del benches
            torch.cuda.empty_cache()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("cuda_check.json"))
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("cuda_check: no CUDA device here", file=sys.stderr)
        return 2
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "correctness": correctness(), "step_time": step_times()}
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0 if all(v["agrees"] for v in result["correctness"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
