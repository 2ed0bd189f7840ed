"""The ``superaccel`` command line: ``superaccel sigma-star`` (σ* for ½kθ²), and the commands
of installed extensions (the repository's lab adds ``reproduce`` and ``demo``), found through
the ``superaccel.commands`` entry point group.

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import sys

from . import __version__

#: entry points ``name = "module:function"``; ``function(commands)`` adds subcommands to the
#: argparse subparsers ``commands``, each with ``func`` as its default
COMMANDS_GROUP = "superaccel.commands"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


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
        print(f"  σ* {label:<22} {value:>10.4f}   rate ρ = {theory.spectral_radius(k_eta, g, value):.6f}")
    print(f"  at the exact σ*: ρ = {result['rate']:.6f}, T = −1/ln ρ = {result['time_scale']:.3f} iterations")
    if result["exact"] < 0:
        print(f"  kη is below (1 − √g)² = {result['positive_sigma_star_threshold']:.5f}: no positive σ* exists; "
              f"σ = 0 is best (ρ = {result['best_nonnegative_rate']:.6f})")
    return 0


def finite_float(text: str) -> float:
    """An argparse type: a finite number (the message names the bad text)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="superaccel",
                     description="Super-accelerated momentum: σ* for ½kθ², and the commands of installed extensions.",
                     epilog="The paper's figures (reproduce, demo) come with the lab in superaccel's repository.")
    parser.add_argument("--version", action="version", version=f"superaccel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    star = commands.add_parser("sigma-star", help="optimal σ for ½kθ² (exact and Eqs. 12-14)")
    star.add_argument("--k-eta", type=finite_float, required=True, help="kη in (0, 4) (curvature × learning rate)")
    star.add_argument("--momentum", type=finite_float, default=0.9, help="g in [0, 1) (default 0.9)")
    star.add_argument("--json", action="store_true", help="print one JSON object")
    star.set_defaults(func=_sigma_star)
    for entry in importlib.metadata.entry_points(group=COMMANDS_GROUP):
        entry.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as error:
        print(f"superaccel: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("superaccel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
