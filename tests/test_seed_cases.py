
"""The seeds' test-case file (../shared/cases/seed_test_cases.json, copied here) runs end to end:
knowledge_qa scored against its Chinese reference, code_generation compiled, creative_writing by
diversity, each by the scorers of its kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cannedbackend import canned_backend
from test_plugin import records, run_suite

SEEDS = [
    {"model": "all", "prompt": "请简要说明什么是光合作用。", "task_type": "knowledge_qa",
     "reference_text": "光合作用是绿色植物利用光能，把二氧化碳和水合成有机物并释放氧气的过程。",
     "max_tokens": 64, "temperature": 0.7},
    {"model": "all", "prompt": "写一段关于秋天的短文。", "task_type": "creative_writing", "max_tokens": 64,
     "temperature": 0.8},
    {"model": "all", "prompt": "Write a Python function is_palindrome(s) that returns True if s reads the "
     "same backwards.", "task_type": "code_generation", "max_tokens": 128, "temperature": 0.2},
]
REPLIES = '''
def reply(prompt):
    if "光合作用" in prompt:
        return "光合作用是植物利用光能，把二氧化碳和水变成有机物并放出氧气的过程。"
    if "秋天" in prompt:
        return "秋天来了，树叶变黄，一片片落下。田野里稻谷金黄，农民忙着收割。"
    return "<think>draft</think>```python\\ndef is_palindrome(s):\\n    return s == s[::-1]\\n```"
'''


def test_the_seed_cases_are_each_scored_by_their_kind(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    seeds = tmp_path / "seed_test_cases.json"
    seeds.write_bytes(b"\xef\xbb\xbf" + json.dumps(SEEDS, ensure_ascii=False).encode("utf-8"))
    suite.makeconftest(canned_backend("canned", REPLIES))
    run_dir = suite.path / "run"
    result, _data = run_suite(
        suite, "--wb-backend", "canned", "--wb-model", str(tiny_gguf), "--wb-tasks", "",
        "--wb-cases", str(seeds), "--wb-run-dir", str(run_dir),
    )
    assert result.ret == 0, result.stdout.str()
    by_task = {r["task"]: r for r in records(run_dir)}
    assert set(by_task) == {"knowledge_qa", "creative_writing", "code_generation"}
    qa, creative, code = by_task["knowledge_qa"], by_task["creative_writing"], by_task["code_generation"]
    print(f"\nseed knowledge_qa: rouge_l {qa['rouge_l']:.3f}, chrf {qa['chrf']:.1f}; creative_writing: "
          f"distinct_2 {creative['distinct_2']:.3f}, {creative['output_words_count']} words; "
          f"code_generation: code_compiles {code['code_compiles']}")
    assert qa["task_kind"] == "qa" and qa["rouge_l"] > 0.5 and qa["chrf"] > 20
    assert qa["rouge_tokenizer"] == "cjk_thai_char"
    assert creative["task_kind"] == "creative" and creative["output_words_count"] > 20
    assert 0.8 < creative["distinct_2"] <= 1.0 and creative["words_tokenizer"] == "cjk_thai_char"
    assert code["task_kind"] == "code" and code["code_compiles"] is True
    assert "no quality scorer applies" not in result.stdout.str()
