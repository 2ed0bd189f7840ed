"""The ``superaccel`` command line.

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _demo(_: argparse.Namespace) -> int:
    """Train the paper's 2-D example (Eq. 15) and print the distance to the minimum per σ."""
    from .optim import SuperSGD
    from .problems import PaperValley2D

    problem = PaperValley2D()
    checkpoints = (0, 45, 90, 135, 180)
    print("Eq. (15) from (-1, -3.8), lr = 0.01, momentum g = 0.9: distance to the minimum")
    print(f"{'method':<22}" + "".join(f"{'step ' + str(c):>12}" for c in checkpoints))
    runs = [("gradient descent", 0.0, 0.0), ("heavy ball (σ=0)", 0.9, 0.0), ("Nesterov (σ=0.9)", 0.9, 0.9)]
    runs += [(f"super σ={s:g}", 0.9, s) for s in (2.0, 3.0, 4.0)]
    for label, momentum, sigma in runs:
        theta = torch.nn.Parameter(torch.tensor(problem.start()))
        opt = SuperSGD([theta], lr=0.01, momentum=momentum, sigma=sigma)
        distances = {}
        for step in range(max(checkpoints) + 1):
            if step in checkpoints:
                opt.eval()
                distances[step] = problem.distance_to_minimum(theta.detach().numpy())
                opt.train()
            opt.zero_grad()
            problem.loss(theta).backward()
            opt.step()
        print(f"{label:<22}" + "".join(f"{distances[c]:>12.3e}" for c in checkpoints))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="superaccel", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="train the paper's 2-D example per σ")
    demo.set_defaults(func=_demo)
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
    np.set_printoptions(precision=4)
    sys.exit(main())
