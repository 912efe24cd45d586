"""What a model file is: its name in case ids, its size and its digest."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from wattbench.ids import id_part

GGUF_MAGIC = b"GGUF"


def model_name(path: Path) -> str:
    """The name a model file gets in case ids: its lowercased stem, odd characters as '-'."""
    return id_part(path.stem, "model", model=True)


def is_gguf(path: Path) -> bool:
    """True when ``path`` is a file that starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


@lru_cache(maxsize=64)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    """Hex sha256 of a file, computed once per (path, size, mtime) in this process."""
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


def file_facts(path: Path) -> dict[str, object]:
    """``model_file``, ``model_size_bytes`` and ``model_sha256`` of a model file."""
    return {
        "model_file": path.name,
        "model_size_bytes": path.stat().st_size,
        "model_sha256": sha256(path),
    }
