"""What `pip install superaccel` gives: the library without the lab, no framework of its own,
and each framework's optimizers working with that framework alone."""

from __future__ import annotations

import email
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import superaccel

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def blocking(*names: str) -> str:
    """Python source that makes ``names`` unimportable, as if not installed."""
    return "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in names)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel of a copy of the checkout (setuptools would reuse a stale build/ in the tree)."""
    source, out = tmp_path_factory.mktemp("source") / "superaccel", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                                "results", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, timeout=300)
    (path,) = out.glob("superaccel-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_the_library_and_no_lab(wheel):
    names = wheel.namelist()
    for part in ("superaccel/optim/sgd.py", "superaccel/optim/csrc/fused_cpu.cpp", "superaccel/optax.py",
                 "superaccel/rules.py", "superaccel/theory.py", "superaccel/integrations/lightning.py"):
        assert part in names
    lab = [name for name in names if any(word in name for word in (
        "superaccel_lab", "experiments", "problems", "data/", "training", "benchmarks", "analysis"))]
    assert lab == []


def test_the_wheel_requires_no_framework(wheel):
    (metadata,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    requirements = email.message_from_bytes(wheel.read(metadata)).get_all("Requires-Dist")
    unconditional = [r for r in requirements if "extra ==" not in r]
    assert unconditional == []
    assert any(r.startswith("torch>=2.13") and "extra == \"torch\"" in r for r in requirements)
    assert any(r.startswith("optax") and "extra == \"jax\"" in r for r in requirements)


def test_without_torch_the_library_works_and_the_torch_names_say_how_to_install_it():
    proc = run_python(blocking("torch") + """
import superaccel
from superaccel import auto_sigma, rules, theory
from superaccel.cli import main
assert main(["sigma-star", "--k-eta", "0.05", "--json"]) == 0
try:
    superaccel.SuperSGD
except ModuleNotFoundError as error:
    print("ERROR", error)
""")
    assert proc.returncode == 0, proc.stderr
    assert "ERROR superaccel's PyTorch optimizers need torch: pip install 'superaccel[torch]'" in proc.stdout


def test_superaccel_optax_runs_under_jit_with_torch_never_imported():
    proc = run_python(blocking("torch") + """
import jax, jax.numpy as jnp, optax
import superaccel.optax as sx
for transformation in (sx.super_adam(1e-2), sx.super_adam(1e-2, sigma="auto", weight_decay=0.1),
                       sx.super_sgd(0.1, sigma="auto")):
    params = {"w": jnp.ones(4)}
    state = transformation.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(params)
        updates, state = transformation.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(20):
        params, state = step(params, state)
    assert float(jnp.abs(sx.eval_params(params, state)["w"]).max()) < 1.0
print(sorted(m for m, v in sys.modules.items() if v is not None and m.split(".")[0] == "torch"))
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_without_jax_superaccel_optax_says_how_to_install_it():
    proc = run_python(blocking("jax", "optax") + "import superaccel.optax")
    assert proc.returncode != 0
    assert "superaccel.optax needs JAX and optax: pip install 'superaccel[jax]'" in proc.stderr


def test_the_torch_optimizers_need_torch_only():
    extras = ("jax", "optax", "lightning", "transformers", "accelerate", "numpy", "scipy", "matplotlib", "tqdm")
    proc = run_python(blocking(*extras) + """
import torch, superaccel, superaccel.integrations
p = torch.nn.Parameter(torch.ones(3))
opt = superaccel.SuperAdam([p], lr=0.1)
(p ** 2).sum().backward()
opt.step()
with superaccel.at_theta(opt):
    theta = p.detach().clone()
print(theta.tolist())
""")
    assert proc.returncode == 0, proc.stderr
    assert all(abs(value - 0.9) < 1e-6 for value in eval(proc.stdout))  # one Adam step of lr 0.1 from 1


def test_one_source_of_the_version():
    """The version is superaccel.__version__, read by setuptools; pyproject.toml states none."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "superaccel.__version__"}
    assert importlib.metadata.version("superaccel") == superaccel.__version__
