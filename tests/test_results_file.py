"""results.jsonl read back: orjson reads it fast, and every line json could read still comes back."""

from __future__ import annotations

import json
import math
from pathlib import Path

from wattbench.results import ResultsFile


def test_every_line_json_reads_is_read_nan_infinity_big_ints_chinese_and_bad_bytes(tmp_path: Path) -> None:
    records = [
        {"case_id": "a", "run": 0, "latency_s": 1.5, "answer": "北京是中国的首都"},
        {"case_id": "b", "run": 0, "energy_j": math.nan, "ttft_s": math.inf},  # orjson refuses these
        {"case_id": "c", "run": 0, "seed": 2**70},  # beyond orjson's 64-bit integers
    ]
    results = ResultsFile(tmp_path)
    for record in records:
        results.append(record)
    with results.path.open("ab") as handle:
        handle.write(b'{"case_id": "latin-1 \xe9", "run": 0}\r\n')  # not UTF-8: kept, the byte replaced
        handle.write(b'{"case_id": "torn", "run"')  # a crash mid-write: skipped, not fatal
    read = list(results.records())
    assert [r["case_id"] for r in read] == ["a", "b", "c", "latin-1 \ufffd"]
    assert read[0] == records[0]
    assert math.isnan(read[1]["energy_j"]) and read[1]["ttft_s"] == math.inf
    assert read[2]["seed"] == 2**70
    expected = [json.loads(line) for line in results.path.read_bytes().splitlines()[:3]]
    assert read[0] == expected[0] and read[2] == expected[2]


def test_a_byte_order_mark_does_not_cost_the_first_record(tmp_path: Path) -> None:
    lines = b'\xef\xbb\xbf{"case_id": "a", "run": 0}\n{"case_id": "b", "run": 0}\n'  # saved by Notepad
    (tmp_path / "results.jsonl").write_bytes(lines)
    assert [r["case_id"] for r in ResultsFile(tmp_path).records()] == ["a", "b"]
