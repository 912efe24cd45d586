"""results.jsonl read back: every line json can read comes back, fast (orjson) or exact (json)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from wattbench.records.results import ResultsFile

BIG = 2**70 + 1  # beyond 64 bits, and not a float: orjson would read 1.1805916207174113e+21


def _written(tmp_path: Path) -> ResultsFile:
    results = ResultsFile(tmp_path)
    for record in (
        {"case_id": "a", "run": 0, "latency_s": 1.5, "answer": "北京是中国的首都"},
        {"case_id": "b", "run": 0, "energy_j": math.nan, "ttft_s": math.inf},  # orjson refuses these
        {"case_id": "c", "run": 0, "seed": BIG},
    ):
        results.append(record)
    with results.path.open("ab") as handle:
        handle.write(b'{"case_id": "latin-1 \xe9", "run": 0}\r\n')  # not UTF-8: kept, the byte replaced
        handle.write(b'{"case_id": "torn", "run"')  # a crash mid-write: skipped, not fatal
    return results


@pytest.mark.parametrize("fast", [False, True])
def test_every_line_json_reads_is_read_nan_infinity_chinese_and_bad_bytes(tmp_path: Path, fast: bool) -> None:
    read = list(_written(tmp_path).records(fast=fast))
    assert [r["case_id"] for r in read] == ["a", "b", "c", "latin-1 \ufffd"]
    assert read[0] == {"case_id": "a", "run": 0, "latency_s": 1.5, "answer": "北京是中国的首都"}
    assert math.isnan(read[1]["energy_j"]) and read[1]["ttft_s"] == math.inf


def test_integers_beyond_64_bits_stay_exact_unless_asked_for_speed(tmp_path: Path) -> None:
    results = _written(tmp_path)
    exact = next(r for r in results.records() if r["case_id"] == "c")["seed"]
    fast = next(r for r in results.records(fast=True) if r["case_id"] == "c")["seed"]
    assert exact == BIG and isinstance(exact, int)  # what merge writes back
    assert fast == float(BIG)  # the report takes every value as a figure or a label


@pytest.mark.parametrize("fast", [False, True])
def test_a_byte_order_mark_does_not_cost_the_first_record(tmp_path: Path, fast: bool) -> None:
    lines = b'\xef\xbb\xbf{"case_id": "a", "run": 0}\n{"case_id": "b", "run": 0}\n'  # saved by Notepad
    (tmp_path / "results.jsonl").write_bytes(lines)
    assert [r["case_id"] for r in ResultsFile(tmp_path).records(fast=fast)] == ["a", "b"]


@pytest.mark.parametrize("fast", [False, True])
def test_half_an_emoji_becomes_one_replacement_character(tmp_path: Path, fast: bool) -> None:
    """A token limit can cut an emoji's UTF-16 pair: JSON from such a server holds a lone
    surrogate escape, which no UTF-8 file (results.csv, texts/, a merged results.jsonl) can hold."""
    (tmp_path / "results.jsonl").write_bytes(
        b'{"case_id": "a", "run": 0, "output_text": "ok \\ud83d", "list": ["\\udc00", "\\ud83d\\ude00"]}\n'
    )
    [read] = ResultsFile(tmp_path).records(fast=fast)
    assert read["output_text"] == "ok \ufffd" and read["list"] == ["\ufffd", "\U0001f600"]
    ResultsFile(tmp_path / "again").append(read)  # writable as UTF-8 again
