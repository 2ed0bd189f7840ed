"""The complete examples in docs/integrations/ run as written (each in an empty directory).

A complete example is a ```python block that starts with an import; fragments are not run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "integrations").glob("*.md"))
FRAMEWORK = {"lightning": "lightning", "transformers": "transformers", "accelerate": "accelerate"}


def complete_examples(page: Path) -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    return [block for block in blocks if block.startswith(("import", "from"))]


def test_every_integration_page_has_a_complete_example():
    assert {page.stem for page in PAGES} == set(FRAMEWORK)
    assert all(complete_examples(page) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_integration_example_runs(page, tmp_path):
    pytest.importorskip(FRAMEWORK[page.stem], reason=f"{FRAMEWORK[page.stem]} is not installed")
    for index, code in enumerate(complete_examples(page)):
        script = tmp_path / f"example_{index}.py"
        script.write_text(code)
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
