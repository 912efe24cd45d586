"""Write the tiny deterministic GGUF described by fixtures/models/tiny-successor.json.

The model is real to llama.cpp (llama architecture, byte-level BPE, ChatML template) but its
answer is fixed: attention and FFN outputs are zero, so the hidden state at a position is the
embedding of the token there, and ``output.weight`` maps each chain token to its successor. The
chat prompt ends in a newline, so the model answers ``chain[1:]`` and then the end token.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np

RECIPE = Path(__file__).resolve().parent.parent / "fixtures" / "models" / "tiny-successor.json"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def recipe() -> dict[str, object]:
    """The recipe as data."""
    data: dict[str, object] = json.loads(RECIPE.read_text(encoding="utf-8"))
    return data


def expected_answer() -> str:
    """What the model writes after any chat prompt."""
    return str(recipe()["chain"])[1:]


GEMMA_TEMPLATE = Path(__file__).resolve().parent.parent.parent / "shared" / "cases" / "gemma_template.jinja"


def write_tiny_gguf(path: Path, chat_template: bool = True, template: str | None = None) -> Path:
    """Write the model to ``path`` (byte-identical on every call) and return the path.

    ``template``: a chat template to use instead of the recipe's ChatML one (e.g. Gemma's, which
    refuses the system role)."""
    r = recipe()
    hidden, layers, heads = int(r["hidden"]), int(r["layers"]), int(r["heads"])  # type: ignore[call-overload]
    ff, context = int(r["feed_forward"]), int(r["context"])  # type: ignore[call-overload]
    specials: list[str] = list(r["specials"])  # type: ignore[call-overload]
    merges: list[list[str]] = list(r["merges"])  # type: ignore[call-overload]
    byte_char = _bytes_to_unicode()
    tokens = specials + [byte_char[b] for b in range(256)] + ["".join(m) for m in merges]
    types = [gguf.TokenType.CONTROL] * len(specials) + [gguf.TokenType.NORMAL] * (
        len(tokens) - len(specials)
    )
    index = {token: i for i, token in enumerate(tokens)}
    vocab = len(tokens)

    rng = np.random.default_rng(int(r["seed"]))  # type: ignore[call-overload]
    embed = rng.normal(0.0, 1.0, (vocab, hidden)).astype(np.float32)
    chain = [index[byte_char[b]] for b in str(r["chain"]).encode("utf-8")]
    successors = list(zip(chain, [*chain[1:], index[str(r["end_token"])]]))
    output = np.zeros((vocab, hidden), dtype=np.float32)
    for slot, (token, successor) in enumerate(successors):
        # Chain tokens get orthogonal embeddings with RMS 1, so RMSNorm leaves them as they
        # are and the successor's logit (hidden = 64) stands far above every other (0).
        basis = np.zeros(hidden, dtype=np.float32)
        basis[slot] = np.sqrt(hidden)
        embed[token] = basis
        output[successor] = basis / np.sqrt(hidden)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(str(r["name"]))
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([" ".join(m) for m in merges])
    writer.add_bos_token_id(index["<|im_start|>"])
    writer.add_eos_token_id(index[str(r["end_token"])])
    writer.add_add_bos_token(False)
    if chat_template:
        writer.add_chat_template(template or str(r["chat_template"]))

    def weight(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.02, shape).astype(np.float32)

    ones = np.ones(hidden, dtype=np.float32)
    writer.add_tensor("token_embd.weight", embed)
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", output)
    for layer in range(layers):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", ones)
        writer.add_tensor(f"{block}.attn_q.weight", weight(hidden, hidden))
        writer.add_tensor(f"{block}.attn_k.weight", weight(hidden, hidden))
        writer.add_tensor(f"{block}.attn_v.weight", weight(hidden, hidden))
        writer.add_tensor(f"{block}.attn_output.weight", np.zeros((hidden, hidden), np.float32))
        writer.add_tensor(f"{block}.ffn_norm.weight", ones)
        writer.add_tensor(f"{block}.ffn_gate.weight", weight(ff, hidden))
        writer.add_tensor(f"{block}.ffn_up.weight", weight(ff, hidden))
        writer.add_tensor(f"{block}.ffn_down.weight", np.zeros((hidden, ff), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
