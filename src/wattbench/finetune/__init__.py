"""Fine-tuning efficiency: LoRA runs as measured cases, and the adapter judged by the same suite.

    spec       the cases and their --wb-finetune-* options (plain data)
    data       the built-in set and users' ShareGPT / chat / Alpaca JSONL (the one input reader)
    train      the training loop (torch, transformers, peft: the [finetune] extra, imported lazily)
    adapter    the adapter as a GGUF LoRA that llama.cpp loads (the gguf package)
    work       the workload the runner measures: the steps inside the energy window
    evaluate   base and base + adapter on llama.cpp, scored by the suite's scorers
    front      what the session calls: the cases, skip reasons, measure

To add a method (a full fine-tune, DoRA): a name in ``spec.METHODS``, its model preparation in
``train.Trainer.load`` (peft's config for it), and, when its weights are not a LoRA pair, its
GGUF writer beside ``adapter.write_gguf_adapter``. The workload, the energy figures, the
evaluation and the report need no change.

Importing this package imports nothing heavy: torch and the rest load when a case runs.
"""
