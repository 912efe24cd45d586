"""Tiny Hugging Face models with random weights, written to a folder for the scorers' real
loading and scoring paths (BARTScore, BERTScore): a few layers, a vocabulary learnt from a few
sentences, built locally in about a second. Needs torch, transformers and tokenizers."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "The cat sat on the mat.", "A cat sat on a mat.", "Photosynthesis turns light into sugar.",
    "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖和氧气的过程。", "Paris is the capital of France.",
]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<mask>"]


def _fast_tokenizer(bos: str, eos: str, pad: str, unk: str) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=unk))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=[pad, bos, eos, unk, "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(CORPUS, trainer)
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, core.token_to_id(bos)), (eos, core.token_to_id(eos))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=pad,
                                   unk_token=unk, mask_token="<mask>", model_max_length=126)


def write_tiny_bart(folder: Path) -> Path:
    """A 1+1-layer BART (d_model 32) and its tokenizer in ``folder``; returns the folder."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    tokenizer = _fast_tokenizer("<s>", "</s>", "<pad>", "<unk>")
    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,  # type: ignore[arg-type]
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=128, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=2, forced_eos_token_id=2,
    )
    BartForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


def write_tiny_roberta(folder: Path) -> Path:
    """A 2-layer RoBERTa (hidden 32) and its tokenizer in ``folder``; returns the folder."""
    import torch
    from transformers import RobertaConfig, RobertaModel

    tokenizer = _fast_tokenizer("<s>", "</s>", "<pad>", "<unk>")
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,  # type: ignore[arg-type]
        intermediate_size=64, max_position_embeddings=130, pad_token_id=0, bos_token_id=1,
        eos_token_id=2,
    )
    RobertaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder
