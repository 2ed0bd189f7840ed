"""Run PyTorch's generic optimizer tests, unchanged, against superaccel's optimizers.

PyTorch's ``test/test_optim.py`` is not in the wheel: give its path (from a PyTorch source
checkout of the installed version, e.g. ``git show v2.13.0:test/test_optim.py``).

    python -m tests.conformance.run_torch_suite path/to/test_optim.py [pytest args...]

The file imports three sibling test modules (``optim.test_lrscheduler`` and friends) whose
tests are about torch's own classes: they are replaced by empty stand-ins.  Every
``@optims(optim_db)`` test in ``TestOptimRenewed`` then runs over this project's
``OptimizerInfo`` entries (tests/conformance/torch_optim_db.py) instead of torch's.
Requires ``expecttest`` (in the dev extras).  CUDA-only tests skip on a CPU machine.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path


def _stand_in(name: str, *classes: str) -> None:
    module = types.ModuleType(name)
    for cls in classes:
        setattr(module, cls, type(cls, (), {}))
    sys.modules[name] = module


def main(argv: list[str]) -> int:
    if not argv or not Path(argv[0]).is_file():
        print(__doc__, file=sys.stderr)
        return 2
    import pytest
    import torch.testing._internal.common_optimizers as common_optimizers

    from .torch_optim_db import optim_db

    common_optimizers.optim_db = optim_db  # test_optim.py imports it by name
    sys.modules.setdefault("optim", types.ModuleType("optim"))
    _stand_in("optim.test_lrscheduler", "TestLRScheduler")
    _stand_in("optim.test_optim", "TestDifferentiableOptimizer")
    _stand_in("optim.test_swa_utils", "TestSWAUtils")
    test_file = Path(argv[0]).resolve()
    return pytest.main([str(test_file), "-k", "TestOptimRenewed", "-p", "no:cacheprovider",
                        "--rootdir", str(test_file.parent), *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
