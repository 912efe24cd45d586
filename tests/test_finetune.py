"""Fine-tuning cases (wattbench.finetune): the data readers, the options, the selection, the skip
without the extra, the figures; and real runs: a few LoRA steps on the deterministic tiny GGUF
(the loss falls, the GGUF adapter changes llama.cpp's greedy answer exactly as transformers +
peft change it), and one on SmolLM2 (slow)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tinymodel import expected_answer

from wattbench.errors import CaseFileError, ConfigError
from wattbench.finetune import evaluate as ev
from wattbench.finetune.data import builtin_file, read_examples, split
from wattbench.finetune.train import Step
from wattbench.finetune.work import marks, target_figures, training_figures

BOM = b"\xef\xbb\xbf"
REPLY = "ponmlkjihgfedcb"  # what the tiny model learns to say instead of its chain


def jsonl(path: Path, rows: list[Any], bom: bool = False) -> Path:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_bytes((BOM if bom else b"") + text.encode("utf-8"))
    return path


def finetuned(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "finetune.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def evaluations(run_dir: Path) -> list[dict[str, Any]]:
    text = (run_dir / "finetune-eval.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


# -- data ------------------------------------------------------------------------------------


def test_sharegpt_chat_and_alpaca_lines_are_read_through_the_one_reader_bom_and_all(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "mixed.jsonl", [
        {"conversations": [{"from": "human", "value": "我失眠了"},
                           {"from": "gpt", "value": "先试试固定作息。"},
                           {"from": "human", "value": "还有呢？"},
                           {"from": "gpt", "value": "睡前别看手机。"}],
         "system": "你是一位心理咨询师。"},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
        {"instruction": "Translate to French", "input": "Good morning", "output": "Bonjour"},
        {"instruction": "Name a colour", "output": "Red"},
    ], bom=True)
    first, chat, alpaca, bare = read_examples(path)
    assert [m["role"] for m in first.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert first.reply == "睡前别看手机。" and first.prompt[-1]["content"] == "还有呢？"
    assert chat.messages[0] == {"role": "user", "content": "Hi"}
    assert alpaca.messages[0]["content"] == "Translate to French\n\nGood morning"
    assert alpaca.reply == "Bonjour"
    assert bare.messages[0]["content"] == "Name a colour"
    assert alpaca.where == f"{path}:3"


def test_the_built_in_set_holds_chinese_dialogue_and_holds_out_its_last_examples() -> None:
    examples = read_examples(builtin_file())
    assert len(examples) == 26
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in e.reply) for e in examples) >= 12
    assert any(len(e.messages) > 2 for e in examples)  # multi-turn dialogue
    train, held = split(examples, 4)
    assert (len(train), len(held)) == (22, 4) and held == examples[-4:]
    assert split(examples[:1], 4) == (examples[:1], ())  # at least one example is kept to train on


@pytest.mark.parametrize(("row", "expected"), [
    ({"text": "hi"}, "entry 1: has none of conversations, messages or instruction (its keys: text)"),
    ({"conversations": []}, "entry 1, field 'conversations': must be a non-empty list"),
    ({"conversations": [{"from": "robot", "value": "x"}]},
     "entry 1, field 'conversations[0].from': from 'robot' is not a speaker"),
    ({"conversations": [{"from": "human", "value": ""}]},
     "field 'conversations[0].value': must be non-empty"),
    ({"conversations": [{"from": "human", "value": "hi"}]}, "must end with the assistant's reply"),
    ({"instruction": "Do it"},
     "field 'output': must be non-empty text (Alpaca lines need instruction and output)"),
    ({"instruction": "Do it", "output": "ok", "input": 3}, "field 'input': must be text"),
])
def test_a_bad_line_names_the_file_the_line_the_field_and_the_fix(
    tmp_path: Path, row: dict[str, Any], expected: str
) -> None:
    path = jsonl(tmp_path / "bad.jsonl", [row])
    with pytest.raises(CaseFileError) as caught:
        read_examples(path)
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)


def test_a_file_that_is_not_utf8_or_not_json_is_one_message(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes(json.dumps({"instruction": "你好", "output": "好"}, ensure_ascii=False).encode("gbk"))
    with pytest.raises(ConfigError, match=r"is not UTF-8 .* save it as UTF-8"):
        read_examples(gbk)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"instruction": "x", "output": "y"}\n{oops\n', encoding="utf-8")
    with pytest.raises(CaseFileError, match="entry 2: line 2 is not JSON"):
        read_examples(broken)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(CaseFileError, match="no example in it"):
        read_examples(empty)


# -- figures ---------------------------------------------------------------------------------


def steps(losses: list[float], tokens: int = 100, seconds: float = 1.0) -> list[Step]:
    return [Step(loss, tokens, i * seconds, (i + 1) * seconds) for i, loss in enumerate(losses)]


def test_rates_leave_the_warm_up_out_and_the_target_is_the_first_step_that_reaches_it() -> None:
    run = steps([3.0, 2.5, 2.0, 1.5])
    run[0] = Step(3.0, 100, 0.0, 5.0)  # a slow first step (allocation, caches): the warm-up
    run = [run[0], *(Step(s.loss, s.tokens, s.started_at + 4, s.ended_at + 4) for s in run[1:])]
    figures = training_figures(run, warmup=1)
    assert figures["finetune_warmup_steps_count"] == 1 and figures["finetune_rate_tokens"] == 300
    assert figures["finetune_step_s"] == pytest.approx(1.0) and figures["finetune_train_tokens_per_s"] == 100
    assert figures["finetune_train_s"] == pytest.approx(8.0) and figures["finetune_tokens"] == 400
    assert training_figures(run[:1], warmup=3)["finetune_rate_tokens"] == 100  # one step is kept
    cumulative = {i: ev_cumulative(10.0 * (i + 1)) for i in range(4)}
    reached = target_figures(run, cumulative, 2.0)
    assert reached["finetune_steps_to_target_count"] == 3 and reached["finetune_energy_to_target_j"] == 30.0
    assert reached["finetune_time_to_target_s"] == pytest.approx(7.0)
    never = target_figures(run, cumulative, 1.0)
    assert "finetune_energy_to_target_j" not in never and "never reached 1" in never["finetune_target_reason"]
    assert target_figures(run, cumulative, None) == {}
    assert marks(3) == [0, 1, 2] and len(marks(10_000)) <= 502 and marks(10_000, [7])[0] == 7


def ev_cumulative(gross: float) -> Any:
    from wattbench.finetune.work import Cumulative

    return Cumulative(gross, gross / 2)


def record(variant: str, level: str, quality: float, joules: float | None, run: int = 0) -> dict[str, Any]:
    return {"finetune_variant": variant, "task": "finetune_holdout", "level": level, "run": run,
            "quality_metric": "chrf", "chrf": quality, "energy_j": joules}


def test_quality_before_after_the_paired_gain_per_kj_and_the_payback() -> None:
    base = [record("base", "H1", 10.0, 2.0), record("base", "H2", 30.0, 2.0)]
    tuned = [record("tuned", "H1", 14.0, 1.5), record("tuned", "H2", 36.0, 1.5)]
    out = ev.figures({"base": base, "tuned": tuned}, finetune_j=2000.0)
    assert (out["finetune_quality_before"], out["finetune_quality_after"]) == (20.0, 25.0)
    assert out["finetune_quality_gain"] == 5.0 and out["finetune_quality_gain_per_kj"] == 2.5
    assert out["finetune_quality_gain_low"] < 5.0 < out["finetune_quality_gain_high"]
    assert out["finetune_eval_items_count"] == 2
    assert "--wb-finetune-reference" in out["finetune_payback_reason"]
    reference = [record("reference", "H1", 15.0, 3.5), record("reference", "H2", 35.0, 3.5)]
    paid = ev.figures({"base": base, "tuned": tuned, "reference": reference}, finetune_j=2000.0)
    assert paid["finetune_payback_queries_count"] == 1000.0  # 2000 J / (3.5 - 1.5) J per query
    assert paid["finetune_quality_reference"] == 25.0
    cheaper = [record("reference", "H1", 15.0, 1.0), record("reference", "H2", 35.0, 1.0)]
    dearer = ev.figures({"base": base, "tuned": tuned, "reference": cheaper}, finetune_j=2000.0)
    assert "never pays for itself" in dearer["finetune_payback_reason"]
    no_energy = ev.figures({"base": base, "tuned": tuned, "reference": reference}, finetune_j=None)
    assert "no energy figure" in no_energy["finetune_payback_reason"]
    one = ev.figures({"base": base[:1], "tuned": tuned[:1]}, finetune_j=None)
    assert one["finetune_quality_gain"] == 4.0 and one["finetune_quality_gain_low"] is None


ROTARY = """
import numpy as np
from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor
from wattbench.finetune.adapter import permute
rows = np.arange(64 * 24, dtype=np.float32).reshape(64, 24)  # 64 rows: 4 heads of 16, or 2 of 32
undo = LlamaTensorProcessor(config={})._reverse_permute_weights
for heads in (4, 2):
    permuted = permute(rows, heads)
    assert not np.array_equal(permuted, rows)
    assert np.array_equal(undo(permuted, heads, heads), rows), heads
print("undone")
"""


def test_the_adapter_rows_take_llama_cpps_rotary_order_which_transformers_undoes() -> None:
    needs_the_extra()
    done = subprocess.run([sys.executable, "-c", ROTARY], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "undone", done.stderr[-2000:]


# -- the plugin ------------------------------------------------------------------------------


def test_a_plain_run_leaves_the_fine_tuning_cases_out_and_k_finetune_selects_them(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    plain = suite.runpytest("bench", "--collect-only", "-q", "--wb-model", str(tiny_gguf), "--wb-tasks", "qa",
                            "--wb-loads", "short", "--wb-levels", "L0")
    assert "finetune" not in plain.stdout.str() and "deselected" not in plain.stdout.str()
    asked = suite.runpytest("bench", "--collect-only", "-q", "--wb-model", str(tiny_gguf), "-k", "finetune",
                            "--wb-finetune-rank", "4,8", "--wb-finetune-targets", "q_proj+v_proj,all-linear")
    ids = [line for line in asked.stdout.lines if "test_finetune[" in line]
    assert ids == [
        f"bench/test_finetuning.py::test_finetune[finetune-tiny-builtin-lora_r{r}-{t}]"
        for r in (4, 8) for t in ("q_proj+v_proj", "all_linear")
    ]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--wb-finetune-rank", "0", "give one or more ranks of 1 or more"),
    ("--wb-finetune-targets", "q_proj+v proj!", "a target set is module names joined by '+'"),
    ("--wb-finetune-method", "full", "unknown fine-tuning method 'full'; choose from lora, qlora"),
    ("--wb-finetune-model", "nowhere.gguf", "--wb-finetune-model"),
])
def test_bad_fine_tuning_options_stop_the_run_naming_the_value(
    suite: pytest.Pytester, tiny_gguf: Path, option: str, value: str, message: str
) -> None:
    result = suite.runpytest("bench", "-k", "finetune", "--wb-model", str(tiny_gguf), option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_a_bad_data_file_stops_the_run_at_start_up_naming_its_line(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    bad = jsonl(suite.path / "mine.jsonl", [{"instruction": "a", "output": "b"}, {"prompt": "x"}])
    result = suite.runpytest("bench", "-k", "finetune", "--wb-model", str(tiny_gguf),
                             "--wb-finetune-data", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{bad}: entry 2: has none of conversations, messages or instruction" in result.stderr.str()


def test_without_the_extra_each_case_skips_with_the_install_line(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    suite.makeconftest("import sys\nsys.modules['peft'] = None  # as if peft were not installed\n")
    result = suite.runpytest_subprocess("bench", "-p", "no:cacheprovider", "-k", "finetune", "-rs",
                                        "--wb-model", str(tiny_gguf))
    result.assert_outcomes(skipped=1)
    assert ("fine-tuning needs peft (the [finetune] extra): pip install torch (the CPU build where there is "
            "no GPU), then pip install 'wattbench[finetune]'") in result.stdout.str()


# -- real runs -------------------------------------------------------------------------------


def tiny_run(suite: pytest.Pytester, tiny_gguf: Path, run_dir: Path, *extra: str) -> pytest.RunResult:
    """A few LoRA steps on the tiny model, taught to answer REPLY, judged greedily on two
    held-out prompts. q/k/v/o and down: the attention and FFN outputs are zero in the tiny
    model, so o and down carry the change, and q and k exercise llama.cpp's rotary row order."""
    prompts = ["hi", "hello there", "what is up", "tell me", "x", "count", "go on", "start", "again", "more"]
    data = jsonl(suite.path / "reverse.jsonl", [
        {"conversations": [{"from": "human", "value": p}, {"from": "gpt", "value": REPLY}]} for p in prompts
    ])
    return suite.runpytest_subprocess(
        "bench", "-p", "no:cacheprovider", "-k", "finetune", "--wb-model", str(tiny_gguf),
        "--wb-finetune-data", str(data), "--wb-finetune-targets", "q_proj+k_proj+v_proj+o_proj+down_proj",
        "--wb-finetune-lr", "2e-2", "--wb-finetune-steps", "30", "--wb-finetune-holdout", "2",
        "--wb-temperature", "0", "--wb-max-tokens", "24", "--wb-target-loss", "5", "--wb-report", "on",
        "--wb-run-dir", str(run_dir), *extra,
    )


REFERENCE_ANSWER = """
import json, os, sys
os.environ["HF_HUB_OFFLINE"] = os.environ["TQDM_DISABLE"] = "1"
import torch, transformers, peft
model_file, adapter, question = sys.argv[1:4]
folder, name = os.path.split(model_file)
where = {"pretrained_model_name_or_path": folder, "gguf_file": name}
tokenizer = transformers.AutoTokenizer.from_pretrained(**where)
base = transformers.AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
model = peft.PeftModel.from_pretrained(base, adapter).eval()
ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                    return_tensors="pt", return_dict=True)["input_ids"]
out = model.generate(ids, max_new_tokens=24, do_sample=False)
print(json.dumps(tokenizer.decode(out[0][ids.shape[1]:], skip_special_tokens=True)))
"""


def transformers_answer(tiny_gguf: Path, adapter: Path, question: str) -> str:
    """The tuned model's greedy answer in transformers + peft: what llama.cpp must reproduce.
    In a subprocess: torch cannot be imported again in this process once pytester's fixture
    has dropped it from sys.modules."""
    done = subprocess.run([sys.executable, "-c", REFERENCE_ANSWER, str(tiny_gguf), str(adapter), question],
                          capture_output=True, text=True, check=True, timeout=300)
    return str(json.loads(done.stdout.strip().splitlines()[-1]))


def needs_the_extra() -> None:
    """Skip unless torch, transformers and peft are installed (found, not imported: see above)."""
    for name in ("torch", "transformers", "peft"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed (the [finetune] extra)")


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers' deprecation notes, inside peft
def test_a_few_steps_on_the_tiny_model_lower_the_loss_and_change_llama_cpps_greedy_answer(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    needs_the_extra()
    run_dir = suite.path / "run"
    result = tiny_run(suite, tiny_gguf, run_dir, "-k", "finetune or (qa and short and L0)")  # and a case
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["fine-tuning: finetune-tiny-reverse-* train tok/s, * s/step, * J/token, "
                                 "loss * -> *, chrf * -> * (gain * ?*, *?)"])
    (rec,) = finetuned(run_dir)
    assert rec["case_id"] == "finetune-tiny-reverse-lora_r8-q_proj+k_proj+v_proj+o_proj+down_proj"
    assert rec["finetune_loss_end_nats"] < rec["finetune_loss_start_nats"] - 1.0
    assert rec["finetune_steps_count"] == 30 and rec["finetune_warmup_steps_count"] == 1
    assert 0 < rec["finetune_trainable_params_count"] < rec["finetune_total_params_count"]
    assert rec["finetune_train_tokens_per_s"] > 0 and rec["finetune_step_s"] > 0
    assert rec["finetune_steps_to_target_count"] <= 30 and rec["finetune_energy_to_target_j"] > 0
    assert rec["finetune_energy_per_token_j"] > 0 and rec["energy_method"] == "estimated"
    assert set(rec["finetune_components_per_token_j"]) == {"estimate:cpu"}
    adapter = run_dir / rec["finetune_adapter_file"]
    assert adapter.stat().st_size == rec["finetune_adapter_bytes"] > 0
    curve = (run_dir / rec["finetune_loss_file"]).read_text(encoding="utf-8").splitlines()
    assert curve[0] == "step,elapsed_s,tokens,loss_nats,energy_j,energy_net_j" and len(curve) == 31
    answers = {(r["finetune_variant"], r["level"]): r for r in evaluations(run_dir)}
    assert sorted(answers) == [("base", "H1"), ("base", "H2"), ("tuned", "H1"), ("tuned", "H2")]
    for level in ("H1", "H2"):
        base, tuned = answers["base", level], answers["tuned", level]
        assert base["output_text"] == expected_answer()  # the base model's known greedy answer
        assert tuned["output_text"] != expected_answer()  # the adapter changed it on llama.cpp ...
        reference = transformers_answer(tiny_gguf, run_dir / rec["finetune_peft_dir"], tuned["question_text"])
        assert tuned["output_text"] == reference  # ... exactly as transformers + peft change it
        assert tuned["finetune_case"] == rec["case_id"] and tuned["model"] == "tiny+lora"
    assert rec["finetune_quality_metric"] == "chrf" and rec["finetune_eval_items_count"] == 2
    page = (run_dir / "report.html").read_text(encoding="utf-8")  # the run's report, with its section
    assert "<h2>Fine-tuning</h2>" in page and "cumulative J (gross)" in page and rec["case_id"] in page
    assert (run_dir / "finetune.csv").read_text(encoding="utf-8").startswith("case_id,model,finetune_data")

    again = tiny_run(suite, tiny_gguf, run_dir, "-rs")  # the run folder holds it: a resume skips it
    again.assert_outcomes(skipped=1)
    again.stdout.fnmatch_lines(["*already measured in*finetune.jsonl*"])


@pytest.mark.slow
@pytest.mark.torch
def test_smollm2_fine_tunes_from_its_gguf_and_is_judged_before_and_after(
    suite: pytest.Pytester, smollm2: Path
) -> None:
    needs_the_extra()
    run_dir = suite.path / "run"
    result = suite.runpytest_subprocess(
        "bench", "-p", "no:cacheprovider", "-k", "finetune", "--wb-finetune-steps", "3",
        "--wb-finetune-batch", "2", "--wb-finetune-seq", "96", "--wb-finetune-holdout", "2",
        "--wb-max-tokens", "16", "--wb-temperature", "0", "--wb-report", "on", "--wb-run-dir", str(run_dir),
    )
    result.assert_outcomes(passed=1)
    (rec,) = finetuned(run_dir)
    assert rec["case_id"] == "finetune-smollm2-135m-instruct.q4_1-builtin-lora_r8-q_proj+v_proj"
    assert rec["finetune_trainable_params_count"] == 460_800  # r=8 on q and v of 30 layers
    assert rec["finetune_total_params_count"] > 134_000_000
    assert rec["finetune_energy_per_token_j"] > 0 and rec["rss_peak_mb"] > 500
    assert 1_500_000 < rec["finetune_adapter_bytes"] < 2_500_000
    for key in ("finetune_quality_before", "finetune_quality_after", "finetune_quality_gain",
                "finetune_tuned_query_j", "finetune_base_query_j"):
        assert isinstance(rec[key], float), key
    assert {r["finetune_variant"] for r in evaluations(run_dir)} == {"base", "tuned"}
    assert "<h2>Fine-tuning</h2>" in (run_dir / "finetune.html").read_text(encoding="utf-8")
