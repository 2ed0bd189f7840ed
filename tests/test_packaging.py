"""What a user who wants only the optimizers gets: torch and nothing else."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import superaccel

ROOT = Path(__file__).resolve().parents[1]

WITHOUT_EXTRAS = """
import sys
EXTRAS = {"scipy", "matplotlib", "tqdm", "lightning", "transformers", "accelerate", "jax", "optax"}
for name in EXTRAS:  # as if not installed: import fails, find_spec says None
    sys.modules[name] = None
import torch, superaccel, superaccel.integrations
p = torch.nn.Parameter(torch.ones(3))
opt = superaccel.SuperSGD([p], lr=0.1)
(p ** 2).sum().backward()
opt.step()
with superaccel.at_theta(opt):
    theta = p.detach().clone()
print(sorted(m for m, v in sys.modules.items() if v is not None and m.split(".")[0] in EXTRAS),
      theta.tolist())
"""


def test_the_optimizers_need_torch_only():
    proc = subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[]")


def test_one_source_of_the_version():
    assert importlib.metadata.version("superaccel") == superaccel.__version__
    assert "version" not in (ROOT / "pyproject.toml").read_text().split("[project]")[1].split("[")[0].replace(
        'dynamic = ["version"]', "")
