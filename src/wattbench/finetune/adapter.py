"""The trained LoRA as a GGUF adapter that llama.cpp loads (``--lora``, llama-cpp-python's
``lora_path``), written with the ``gguf`` package: nothing is fetched or shelled out to.

The file is what llama.cpp's own ``convert_lora_to_gguf.py`` writes: ``general.type`` adapter,
``adapter.type`` lora, ``adapter.lora.alpha``, and per adapted weight ``<name>.lora_a`` (rank x
in) and ``<name>.lora_b`` (out x rank) under llama.cpp's tensor names (``blk.0.attn_q.weight``),
in float32. Like that script (LlamaModel.modify_tensors), the query and key projections of the
llama architecture get their rows permuted into llama.cpp's rotary layout; transformers undoes
that permutation when it loads a llama GGUF, so B, whose rows are the projection's outputs,
takes it on the way back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wattbench.errors import WattbenchError

PERMUTED = {"llama": ("q_proj", "k_proj")}
"""Per architecture, the projections llama.cpp stores permuted (convert_hf_to_gguf.py)."""


class AdapterError(WattbenchError):
    """The adapter cannot be written as GGUF (an architecture or module llama.cpp's names lack)."""


def permute(rows: Any, heads: int) -> Any:
    """llama.cpp's rotary row order for a projection's ``rows`` (out x ...) over ``heads``."""
    shape = rows.shape
    return rows.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def write_gguf_adapter(
    path: Path, architecture: str, pairs: Mapping[str, tuple[Any, Any]], alpha: float, blocks: int,
    heads: tuple[int, int], name: str,
) -> Path:
    """Write ``pairs`` (Hugging Face module name -> (A, B)) to ``path`` for a model of
    ``architecture`` with ``blocks`` layers and (attention, key-value) ``heads``.

    Raises AdapterError when the architecture or an adapted module has no llama.cpp name.
    """
    import gguf
    import numpy as np

    arch = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == architecture), None)
    if arch is None:
        raise AdapterError(f"llama.cpp knows no architecture {architecture!r}: the adapter stays in peft's "
                           "format only")
    names = gguf.get_tensor_name_map(arch, blocks)
    permuted = PERMUTED.get(architecture, ())
    writer = gguf.GGUFWriter(str(path), architecture)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        writer.add_name(name)
        for module, (a, b) in sorted(pairs.items()):
            target = names.get_name(f"{module}.weight", try_suffixes=(".weight",))
            if target is None:
                raise AdapterError(f"llama.cpp has no tensor for {module!r} of {architecture}: adapt other "
                                   "modules (--wb-finetune-targets)")
            leaf = module.rsplit(".", 1)[-1]
            if leaf in permuted:
                b = permute(b, heads[0] if leaf == "q_proj" else heads[1])
            writer.add_tensor(f"{target}.lora_a", np.ascontiguousarray(a, dtype=np.float32))
            writer.add_tensor(f"{target}.lora_b", np.ascontiguousarray(b, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return path
