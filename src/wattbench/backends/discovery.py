"""Local GGUF models where people keep them, so ``-k qwen`` finds a model the user already has.

Places read, and only these (nothing is downloaded, nothing else is walked):

- **Ollama's model store**: ``$OLLAMA_MODELS``, else ``~/.ollama/models``. Each manifest
  (``manifests/<registry>/<namespace>/<name>/<tag>``, JSON) names its layers; the one of media
  type ``application/vnd.ollama.image.model`` is the GGUF file, stored as
  ``blobs/sha256-<hex>``. The model is named as Ollama names it: ``qwen2.5:7b`` (the
  ``library`` namespace left out, as ``ollama list`` shows it).
- **LM Studio's models folder**: ``~/.lmstudio/models`` and the older ``~/.cache/lm-studio/models``
  (``<publisher>/<repo>/<file>.gguf``); named by the file's stem.
- **The Hugging Face hub cache**: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub`` (``models--<org>--<repo>/snapshots/<rev>/**/*.gguf``); named by the
  file's stem.

A file that does not start with the GGUF magic is skipped. Case ids spell a name with
:func:`wattbench.ids.model_part` ('qwen2.5:7b' -> 'qwen2.5_7b'), so ``-k qwen`` selects it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from wattbench.backends.modelfile import is_gguf
from wattbench.ids import model_part

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
MAX_FILES_PER_PLACE = 1000  # a bound on what one place may list, whatever is kept there


@dataclass(frozen=True)
class Found:
    """A local GGUF model: the name users know it by, its file, and where it was found."""

    name: str
    path: Path
    where: str  # ollama, lmstudio or huggingface


def discover(home: Path | None = None, env: Mapping[str, str] | None = None) -> list[Found]:
    """Every GGUF model in the places above, each file once (Ollama first), in a stable order."""
    home = home if home is not None else Path.home()
    env = env if env is not None else os.environ
    found: dict[Path, Found] = {}
    for model in (*_ollama(home, env), *_lmstudio(home), *_huggingface(home, env)):
        try:
            found.setdefault(model.path.resolve(), model)
        except (OSError, RuntimeError):  # a symlink loop: not a model
            continue
    named: dict[str, Found] = {}  # one model per name: the same file stem in two places is one
    for model in sorted(found.values(), key=lambda f: (f.where, f.name, str(f.path))):
        named.setdefault(model_part(model.name), model)
    return list(named.values())


def _ollama(home: Path, env: Mapping[str, str]) -> Iterator[Found]:
    root = Path(env["OLLAMA_MODELS"]) if env.get("OLLAMA_MODELS") else home / ".ollama" / "models"
    manifests = root / "manifests"
    if not manifests.is_dir():
        return
    for count, manifest in enumerate(sorted(p for p in manifests.rglob("*") if p.is_file())):
        if count >= MAX_FILES_PER_PLACE:
            return
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not a manifest of ours to judge: skipped, never a stop
        layers = data.get("layers") if isinstance(data, dict) else None
        if not isinstance(layers, list):
            continue
        digest = next((layer.get("digest") for layer in layers if isinstance(layer, dict)
                       and layer.get("mediaType") == OLLAMA_MODEL_LAYER), None)
        if not isinstance(digest, str):
            continue
        blob = root / "blobs" / digest.replace(":", "-")
        if not is_gguf(blob):
            continue
        parts = manifest.relative_to(manifests).parts  # registry, namespace, name, tag
        if len(parts) < 3:
            continue
        registry, *path, name, tag = parts
        # As `ollama list` shows it: the default registry and namespace left out, others kept.
        prefix = [] if registry == "registry.ollama.ai" else [registry]
        shown = "/".join([*prefix, *(p for p in path if p != "library"), name])
        yield Found(f"{shown}:{tag}", blob, "ollama")


def _lmstudio(home: Path) -> Iterator[Found]:
    for root in (home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"):
        yield from _files(root, "lmstudio")


def _huggingface(home: Path, env: Mapping[str, str]) -> Iterator[Found]:
    if env.get("HF_HUB_CACHE"):
        root = Path(env["HF_HUB_CACHE"])
    elif env.get("HF_HOME"):
        root = Path(env["HF_HOME"]) / "hub"
    else:
        root = home / ".cache" / "huggingface" / "hub"
    if root.is_dir():
        for repo in sorted(root.glob("models--*")):
            yield from _files(repo / "snapshots", "huggingface")


def _files(root: Path, where: str) -> Iterator[Found]:
    if not root.is_dir():
        return
    for count, path in enumerate(sorted(root.rglob("*.gguf"))):
        if count >= MAX_FILES_PER_PLACE:
            return
        if is_gguf(path):
            yield Found(path.stem, path, where)
