"""What a GGUF model file is: name, size, digest and the facts its header states."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from wattbench.errors import MissingExtraError, ModelLoadError

GGUF_MAGIC = b"GGUF"


def model_name(path: Path) -> str:
    """The name a model file gets in case ids: its lowercased stem, odd characters as '-'."""
    return re.sub(r"[^a-z0-9._]+", "-", path.stem.lower()).strip("-") or "model"


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


def gguf_metadata(path: Path) -> dict[str, object]:
    """``model_*`` record keys read from a GGUF file's header and tensor table."""
    try:
        import gguf
    except ImportError:
        raise MissingExtraError("gguf", "llamacpp") from None
    try:
        reader = gguf.GGUFReader(str(path), "r")
    except Exception as exc:  # the reader raises bare ValueErrors/struct errors on bad files
        raise ModelLoadError(
            f"{path}: not a readable GGUF file, perhaps truncated or corrupt ({exc}); "
            "download or convert it again"
        ) from exc

    def field(key: str) -> object:
        item = reader.fields.get(key)
        return None if item is None else item.contents()

    architecture = field("general.architecture")
    file_type = field("general.file_type")
    quantization: str | None = None
    if isinstance(file_type, int):
        try:
            name = gguf.LlamaFileType(file_type).name
            quantization = name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            quantization = f"file_type_{file_type}"
    context = field(f"{architecture}.context_length") if architecture else None
    return {
        "model_file": path.name,
        "model_size_bytes": path.stat().st_size,
        "model_sha256": sha256(path),
        "model_architecture": architecture,
        "model_quantization": quantization,
        "model_param_count": int(sum(int(t.n_elements) for t in reader.tensors)),
        "model_context_tokens": context if isinstance(context, int) else None,
    }
