"""BERTScore only from local weights: off with a reason by default, on through bert_score's own
interface (a fake of its BERTScorer here: no torch or weights on this machine)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
from test_plugin import run_suite

FAKE_BERT_SCORE = '''
class BERTScorer:
    """bert_score.BERTScorer's interface: (model_type, num_layers, lang, ...), score(cands, refs)."""

    made = []

    def __init__(self, model_type=None, num_layers=None, batch_size=64, nthreads=4, all_layers=False,
                 idf=False, idf_sents=None, device=None, lang=None, rescale_with_baseline=False,
                 baseline_path=None, use_fast_tokenizer=False):
        BERTScorer.made.append((model_type, num_layers, lang))

    def score(self, cands, refs, verbose=False, batch_size=64, return_hash=False):
        overlap = [len(set(c.split()) & set(r.split())) / max(len(set(r.split())), 1)
                   for c, r in zip(cands, refs)]
        return overlap, overlap, overlap
'''


def test_without_local_weights_bertscore_is_off_and_says_why(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "summary", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-run-dir", str(suite.path / "run"),
    )
    assert "bertscore_f1" not in data["benchmarks"][0]["extra_info"]
    result.stdout.fnmatch_lines(["*quality: BERTScore not computed: no local weights given*never downloads*"])


def test_with_local_weights_each_reference_case_gets_bertscore(
    suite: pytest.Pytester, tiny_gguf: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "roberta-large"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    suite.makepyfile(bert_score=FAKE_BERT_SCORE)
    suite.syspathinsert()
    result, data = run_suite(
        suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "summary", "--wb-loads", "short",
        "--wb-levels", "L0", "--wb-bertscore-model", str(weights), "--wb-run-dir", str(suite.path / "run"),
    )
    result.assert_outcomes(passed=2)
    info = data["benchmarks"][0]["extra_info"]
    assert 0.0 <= info["bertscore_f1"] <= 1.0


def test_a_folder_without_weights_is_a_usage_error(suite: pytest.Pytester, tmp_path: Path) -> None:
    result = suite.runpytest("bench", "--wb-bertscore-model", str(tmp_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*not a local model folder (no config.json)*"])


def test_the_hugging_face_libraries_are_kept_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wattbench.scorers.bertscore import open_bertscore

    module = types.ModuleType("bert_score")
    seen: dict[str, Any] = {}

    class BERTScorer:
        def __init__(self, model_type: str, num_layers: int, lang: str) -> None:
            import os

            seen.update(model=model_type, layers=num_layers, offline=os.environ.get("HF_HUB_OFFLINE"))

    module.BERTScorer = BERTScorer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bert_score", module)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    (tmp_path / "config.json").write_text("{}")
    open_bertscore(tmp_path, 17)
    assert seen == {"model": str(tmp_path), "layers": 17, "offline": "1"}


# -- the real path: bert_score over a tiny random RoBERTa built here (marked torch) --


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="torch is not installed (pip install 'wattbench[bertscore]')")
    pytest.importorskip("bert_score", reason="bert-score is not installed (wattbench[bertscore])")
    from tinyhf import write_tiny_roberta

    return write_tiny_roberta(tmp_path_factory.mktemp("roberta"))


@pytest.mark.torch
def test_bertscore_on_a_real_tiny_model(tiny_roberta: Path) -> None:
    from wattbench.backends.protocol import ModelRef, Sampling
    from wattbench.cases import Case
    from wattbench.scorers.bertscore import open_bertscore

    def case(reference: str) -> Case:
        return Case(ModelRef("m", "m"), "qa", "short", "L0", "prompt", Sampling(), reference)

    scorer = open_bertscore(tiny_roberta, 2)
    reference = "Photosynthesis turns light into sugar."
    same = scorer.score(case(reference), reference)["bertscore_f1"]
    near = scorer.score(case(reference), "Photosynthesis turns light into energy.")["bertscore_f1"]
    far = scorer.score(case(reference), "Paris is the capital of France.")["bertscore_f1"]
    chinese = "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖和氧气的过程。"
    same_zh = scorer.score(case(chinese), chinese)["bertscore_f1"]
    print(f"\ntiny RoBERTa BERTScore F1: identical {same:.6f}, near {near:.6f}, far {far:.6f}, "
          f"identical Chinese {same_zh:.6f}")
    assert same == pytest.approx(1.0, abs=1e-5) and same_zh == pytest.approx(1.0, abs=1e-5)
    assert far < same and near < same
