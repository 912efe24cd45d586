"""The training loop: LoRA (peft) on a model that transformers loads from a GGUF file or a folder.

Everything that is not a training step happens in :meth:`Trainer.load`, outside the measured
window: the model is loaded (a GGUF is dequantized by transformers' own reader; nothing is ever
downloaded: ``HF_HUB_OFFLINE`` is set), the examples are tokenized with the model's chat template
(labels only on the assistant turns), and every step's batch is built. :meth:`Trainer.step` is
then one forward pass, one backward pass and one AdamW step, as a bare peft loop does them
(bench/finetune.py compares the two).

torch, transformers and peft are imported here only, on first use: without the ``[finetune]``
extra, :func:`missing` says what to install and the cases skip with that line.
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattbench.backends.protocol import Message
from wattbench.errors import ConfigError, WattbenchError
from wattbench.finetune.data import Example
from wattbench.finetune.spec import FinetuneCase

MODULES = ("torch", "transformers", "peft", "gguf")
INSTALL = (
    "pip install torch (the CPU build where there is no GPU), then pip install 'wattbench[finetune]'"
)
IGNORE = -100  # the label of a token the loss leaves out (transformers' convention)


class FinetuneError(WattbenchError):
    """A fine-tuning run could not start or finish (the model, the method, the data)."""


def missing() -> str | None:
    """Why fine-tuning cannot run here (a module of the extra is missing), or None."""
    absent = [m for m in MODULES if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f"fine-tuning needs {', '.join(absent)} (the [finetune] extra): {INSTALL}"


def heavy(name: str) -> Any:
    """A module of the [finetune] extra, imported now (typed Any: its stubs differ by version,
    and mypy runs where the extra is not installed too)."""
    return importlib.import_module(name)


def qlora_missing() -> str | None:
    """Why QLoRA cannot run here (no CUDA GPU, no bitsandbytes), or None."""
    torch = heavy("torch")

    if not torch.cuda.is_available():
        return "QLoRA needs a CUDA GPU (bitsandbytes' 4-bit weights); this machine has none: use lora"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "QLoRA needs bitsandbytes: pip install bitsandbytes"
    return None


@dataclass(frozen=True)
class Step:
    """One training step: its loss (mean cross-entropy over the batch's assistant tokens, nats),
    the tokens it processed (non-padding input tokens) and when it ended (perf_counter s)."""

    loss: float
    tokens: int
    started_at: float
    ended_at: float

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


@dataclass(frozen=True)
class Encoded:
    """One example as token ids and labels (IGNORE outside the assistant turns)."""

    ids: tuple[int, ...]
    labels: tuple[int, ...]


def encode(tokenizer: Any, messages: Sequence[Message], limit: int) -> Encoded:
    """``messages`` through the tokenizer's chat template, cut to ``limit`` tokens; labels are the
    assistant turns' tokens. Raises FinetuneError when the template cannot be applied or renders a
    conversation's turns other than one after the other (its prefixes differ)."""

    def ids(chat: Sequence[Message], prompt: bool) -> list[int]:
        out = tokenizer.apply_chat_template(list(chat), tokenize=True, add_generation_prompt=prompt)
        if hasattr(out, "keys"):  # transformers 5 returns a BatchEncoding
            out = out["input_ids"]
        return list(out)

    try:
        whole = ids(messages, False)
        labels = [IGNORE] * len(whole)
        for index, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before, upto = ids(messages[:index], True), ids(messages[: index + 1], False)
            if whole[: len(upto)] != upto or upto[: len(before)] != before:
                raise FinetuneError(
                    "the model's chat template does not render a conversation turn after turn, so the "
                    "assistant's tokens cannot be told apart; use a model whose template does"
                )
            labels[len(before):len(upto)] = upto[len(before):]
    except FinetuneError:
        raise
    except Exception as exc:  # jinja2 errors, a tokenizer without a template
        raise FinetuneError(f"the model's chat template could not be applied ({exc})") from None
    return Encoded(tuple(whole[:limit]), tuple(labels[:limit]))


def batches(encoded: Sequence[Encoded], size: int, steps: int, seed: int) -> Iterator[list[Encoded]]:
    """``steps`` batches of ``size`` examples: the examples shuffled (``seed``), then cycled,
    reshuffled at every pass."""
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(steps):
        batch = []
        for _ in range(size):
            if not order:
                order = list(range(len(encoded)))
                rng.shuffle(order)
            batch.append(encoded[order.pop()])
        yield batch


def load_model(case: FinetuneCase, device: str, dtype: Any) -> tuple[Any, Any]:
    """(model, tokenizer) from the case's GGUF file (dequantized) or Hugging Face folder, offline.
    Raises FinetuneError naming the file and what transformers said."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded
    transformers = heavy("transformers")
    hf_logging = heavy("transformers.utils.logging")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    location = case.location
    where = {"pretrained_model_name_or_path": str(location.parent), "gguf_file": location.name} \
        if case.is_gguf else {"pretrained_model_name_or_path": str(location)}
    extra: dict[str, Any] = {}
    if case.method == "qlora":
        extra["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
        )
        extra["device_map"] = {"": 0}
    quiet = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # transformers' GGUF reader draws a progress bar of its own
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(**where)
        model = transformers.AutoModelForCausalLM.from_pretrained(**where, dtype=dtype, **extra)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError by architecture
        raise FinetuneError(
            f"transformers could not load {location} for fine-tuning ({type(exc).__name__}: {exc}); "
            "name a GGUF file of an architecture transformers reads (llama, qwen2, mistral, ...) "
            "or a local Hugging Face model folder"
        ) from None
    finally:
        if quiet is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = quiet
    if case.method != "qlora":
        model.to(device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise FinetuneError(f"{location} has no chat template (tokenizer.chat_template): wattbench "
                            "fine-tunes chat models on conversations")
    return model, tokenizer


class Trainer:
    """One case's model, adapter, optimizer and batches (see the module doc)."""

    def __init__(self, case: FinetuneCase, train: Sequence[Example], threads: int) -> None:
        self.case = case
        self.train = train
        self.threads = threads
        self.model: Any = None
        self.tokenizer: Any = None
        self.optimizer: Any = None
        self.planned: list[tuple[Any, Any, Any, int]] = []  # per step: ids, mask, labels, tokens
        self.device = "cpu"
        self.trainable_params = 0
        self.total_params = 0
        self.load_s = 0.0
        self.architecture = ""  # the GGUF's general.architecture, or config.model_type

    def load(self) -> None:
        """Load the model, wrap it in LoRA, tokenize and batch the examples (untimed)."""
        torch, peft = heavy("torch"), heavy("peft")

        start = time.perf_counter()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        cuda = torch.cuda.is_available()
        self.device = "cuda" if cuda else "cpu"
        dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
        case = self.case
        model, self.tokenizer = load_model(case, self.device, dtype)
        self.architecture = _architecture(case, model)
        if case.method == "qlora":
            model = peft.prepare_model_for_kbit_training(model)
        torch.manual_seed(case.options.seed)
        targets: Any = "all-linear" if case.targets == ("all-linear",) else list(case.targets)
        config = peft.LoraConfig(r=case.rank, lora_alpha=case.alpha, target_modules=targets, lora_dropout=0.0,
                            bias="none", task_type="CAUSAL_LM")
        try:
            with warnings.catch_warnings():  # transformers' deprecation notes inside peft's call
                warnings.simplefilter("ignore", FutureWarning)
                self.model = peft.get_peft_model(model, config)
        except ValueError as exc:
            linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                             if isinstance(module, torch.nn.Linear)})
            raise ConfigError(
                f"--wb-finetune-targets {'+'.join(case.targets)}: {exc}; this model's linear modules "
                f"are {', '.join(linear)} (or all-linear)"
            ) from None
        self.trainable_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.total_params = sum(p.numel() for p in self.model.parameters())
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=case.options.learning_rate)
        self.model.train()
        limit = case.options.seq_tokens
        encoded = [encode(self.tokenizer, example.messages, limit) for example in self.train]
        encoded = [e for e in encoded if any(label != IGNORE for label in e.labels)]
        if not encoded:
            raise FinetuneError(
                f"every example's reply lies beyond --wb-finetune-seq {limit} tokens: raise it"
            )
        self.planned = []
        budget = case.options.tokens
        seen = 0
        for batch in batches(encoded, case.options.batch, case.options.steps, case.options.seed):
            step = self._tensors(batch)
            self.planned.append(step)
            seen += step[3]
            if budget is not None and seen >= budget:
                break
        self.load_s = time.perf_counter() - start

    def _tensors(self, batch: list[Encoded]) -> tuple[Any, Any, Any, int]:
        torch = heavy("torch")

        width = max(len(e.ids) for e in batch)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.tensor([list(e.ids) + [pad] * (width - len(e.ids)) for e in batch])
        mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in batch])
        labels = torch.tensor([list(e.labels) + [IGNORE] * (width - len(e.labels)) for e in batch])
        tokens = sum(len(e.ids) for e in batch)
        return ids.to(self.device), mask.to(self.device), labels.to(self.device), tokens

    def step(self, index: int) -> Step:
        """Planned step ``index``: forward, backward, AdamW."""
        ids, mask, labels, tokens = self.planned[index]
        start = time.perf_counter()
        loss = self.model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        value = float(loss.item())  # waits for the device: the step's time is its own
        return Step(value, tokens, start, time.perf_counter())

    def save(self, folder: Path) -> Path:
        """The adapter in peft's own format (adapter_model.safetensors, adapter_config.json)."""
        folder.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # a GGUF's folder has no config.json: peft says so, harmlessly
            warnings.simplefilter("ignore", UserWarning)
            self.model.save_pretrained(str(folder))
        return folder

    def lora_pairs(self) -> dict[str, tuple[Any, Any]]:
        """Each adapted module's Hugging Face name (model.layers.0.self_attn.q_proj) -> (A, B)
        as float32 numpy arrays, A: rank x in, B: out x rank."""
        pairs: dict[str, tuple[Any, Any]] = {}
        for name, module in self.model.named_modules():
            lora_a, lora_b = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
            if lora_a is None or lora_b is None or "default" not in lora_a:
                continue
            key = name.removeprefix("base_model.model.")
            a = lora_a["default"].weight.detach().float().cpu().numpy()
            b = lora_b["default"].weight.detach().float().cpu().numpy()
            pairs[key] = (a, b)
        return pairs

    @property
    def heads(self) -> tuple[int, int]:
        """(attention heads, key-value heads) of the model."""
        config = self.model.config
        heads = int(config.num_attention_heads)
        return heads, int(getattr(config, "num_key_value_heads", None) or heads)

    def close(self) -> None:
        """Free the model and optimizer."""
        self.model = self.optimizer = self.tokenizer = None
        self.planned = []


def _architecture(case: FinetuneCase, model: Any) -> str:
    """The architecture llama.cpp calls the model by: the GGUF's own, else config.model_type."""
    if case.is_gguf:
        field = heavy("gguf").GGUFReader(str(case.location)).fields.get("general.architecture")
        if field is not None:
            return bytes(field.parts[field.data[0]]).decode("utf-8")
    return str(getattr(model.config, "model_type", "") or "")
