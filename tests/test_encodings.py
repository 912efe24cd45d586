
"""Every input file is read one way: UTF-8 with or without a byte-order mark, never the locale's
encoding; anything else is one message naming the file, the byte offset and the fix.

Each loader is run on Chinese text saved three ways (UTF-8, UTF-8 with BOM as Windows Notepad
saves it, GBK as a Chinese Windows saves it), and once more in a subprocess whose locale is
zh_CN.GBK with PYTHONUTF8=0, where Python's default encoding is GBK.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from conftest import REPO, TASKS
from wattbench.cases.build import system_prompts
from wattbench.cases.casefile import parse_case_file
from wattbench.cases.humaneval import load_problems
from wattbench.cases.prompttable import load_prompt_table
from wattbench.cases.questions import load_questions
from wattbench.cases.tasks import load_padding, load_task_dir
from wattbench.errors import ConfigError

BOM = b"\xef\xbb\xbf"
QUESTION = "请简要说明什么是光合作用。"
REFERENCE = "光合作用是绿色植物利用光能，把二氧化碳和水合成有机物并释放氧气的过程。"


def case_file(folder: Path) -> Path:
    entries = [{"model": "all", "prompt": QUESTION, "task_type": "knowledge_qa", "reference_text": REFERENCE}]
    path = folder / "cases.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path


def question_file(folder: Path) -> Path:
    path = folder / "question.jsonl"
    line = {"question_id": 81, "category": "知识", "turns": [QUESTION]}
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def reference_file(folder: Path) -> Path:
    (folder / "reference_answer").mkdir()
    path = folder / "reference_answer" / "gpt-4.jsonl"
    line = {"question_id": 81, "choices": [{"index": 0, "turns": [REFERENCE]}]}
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def problem_file(folder: Path) -> Path:
    path = folder / "problems.jsonl"
    line = {"task_id": "中/0", "prompt": 'def f():\n    """返回一。"""\n', "entry_point": "f",
            "test": "def check(c):\n    assert c() == 1\n"}
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def csv_table(folder: Path) -> Path:
    path = folder / "prompts.csv"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question_id", "category", "L0", "L1", "L2", "L3", "P", "reference"])
    writer.writerow(["q1", "knowledge_qa", QUESTION, QUESTION + "一句话。", QUESTION + "分步。",
                     "例：" + QUESTION, "无关。" + QUESTION, REFERENCE])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def task_folder(folder: Path) -> Path:
    tasks = folder / "tasks"
    tasks.mkdir()
    data = json.loads((TASKS / "qa.json").read_text(encoding="utf-8"))
    data["title"] = "知识问答"
    (tasks / "qa.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (tasks / "padding.txt").write_text("秋天的树叶变黄了。\n\n冬天下雪。\n", encoding="utf-8")
    return tasks


def system_prompt_file(folder: Path) -> Path:
    path = folder / "system_prompts.json"
    path.write_text(json.dumps({"zh": "你是一个乐于助人的助手。"}, ensure_ascii=False), encoding="utf-8")
    return path


# loader name -> (write the file(s) into a folder: the path to re-encode, read them: what was read)
LOADERS: dict[str, tuple[Callable[[Path], Path], Callable[[Path], Any]]] = {
    "case file (JSON)": (case_file, lambda p: parse_case_file(p)[0].reference_text),
    "question file (JSONL)": (question_file, lambda p: load_questions(p)[0].category),
    "reference_answer/ (JSONL)": (
        reference_file, lambda p: load_questions(question_file(p.parent.parent))[0].references[0]
    ),
    "HumanEval problems (JSONL)": (problem_file, lambda p: load_problems(p)[0].task_id),
    "prompt table (CSV)": (
        csv_table, lambda p: (load_prompt_table(p)[0].task, load_prompt_table(p)[0].reference)
    ),
    "task file": (lambda f: task_folder(f) / "qa.json", lambda p: load_task_dir(p.parent)["qa"].title),
    "padding file": (lambda f: task_folder(f) / "padding.txt", lambda p: load_padding(p.parent)[0]),
    "system prompt file": (system_prompt_file, lambda p: system_prompts(["zh"], p)["zh"]),
}
EXPECTED: dict[str, Any] = {
    "case file (JSON)": REFERENCE,
    "question file (JSONL)": "知识",
    "reference_answer/ (JSONL)": REFERENCE,
    "HumanEval problems (JSONL)": "中/0",
    "prompt table (CSV)": ("knowledge_qa", REFERENCE),
    "task file": "知识问答",
    "padding file": "秋天的树叶变黄了。",
    "system prompt file": "你是一个乐于助人的助手。",
}


def _written(name: str, folder: Path, encoding: str) -> Path:
    write, _read = LOADERS[name]
    path = write(folder)
    text = path.read_text(encoding="utf-8")
    if encoding == "utf-8-sig":
        path.write_bytes(BOM + text.encode("utf-8"))
    else:
        path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
@pytest.mark.parametrize("name", list(LOADERS))
def test_utf8_with_or_without_bom_is_read(name: str, encoding: str, tmp_path: Path) -> None:
    path = _written(name, tmp_path, encoding)
    assert path.read_bytes().startswith(BOM) == (encoding == "utf-8-sig")
    assert LOADERS[name][1](path) == EXPECTED[name]


@pytest.mark.parametrize("name", list(LOADERS))
def test_gbk_file_is_one_message_naming_file_offset_and_fix(name: str, tmp_path: Path) -> None:
    path = _written(name, tmp_path, "gbk")
    data = path.read_bytes()
    # The first byte that is not UTF-8, by Python's own codec (a few GBK pairs happen to be).
    with pytest.raises(UnicodeDecodeError) as bad:
        data.decode("utf-8")
    offset = bad.value.start
    with pytest.raises(ConfigError) as caught:
        LOADERS[name][1](path)
    message = str(caught.value)
    assert str(path) in message and "not UTF-8" in message and "save it as UTF-8" in message
    assert f"offset {offset}" in message and f"0x{data[offset]:02x}" in message
    assert "Traceback" not in message and "codec" not in message


def test_excel_table_with_the_study_column_names(tmp_path: Path) -> None:
    # The original study's generated_prompts.xlsx names its columns question_id and category.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["question_id", "category", "L0", "L1", "L2", "L3", "P", "reference"])
    sheet.append(["q7", "knowledge_qa", QUESTION, QUESTION, QUESTION, QUESTION, QUESTION, REFERENCE])
    book.save(tmp_path / "generated_prompts.xlsx")
    row = load_prompt_table(tmp_path / "generated_prompts.xlsx")[0]
    assert (row.id, row.task, row.reference, row.prompts["L0"]) == ("q7", "knowledge_qa", REFERENCE, QUESTION)


# -- the same loaders where Python's default encoding is GBK (a Chinese Windows) --

GBK_LOCALE = "zh_CN.GBK"
CHILD = r"""
import json, locale, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import test_encodings as t
out = {"preferred": locale.getpreferredencoding(False)}
for name in t.LOADERS:
    for encoding in ("utf-8", "utf-8-sig"):
        folder = Path(sys.argv[1]) / f"{len(out)}"
        folder.mkdir()
        try:
            read = t.LOADERS[name][1](t._written(name, folder, encoding))
            out[f"{name} {encoding}"] = read == t.EXPECTED[name]
        except Exception as exc:
            out[f"{name} {encoding}"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def _gbk_locale_exists() -> bool:
    try:
        listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return "zh_cn.gbk" in listed.lower().split()


@pytest.mark.skipif(
    not _gbk_locale_exists(),
    reason=f"the {GBK_LOCALE} locale is not installed (as root: localedef -i zh_CN -f GBK {GBK_LOCALE})",
)
def test_loaders_under_a_gbk_locale(tmp_path: Path) -> None:
    env = {**os.environ, "LANG": GBK_LOCALE, "LC_ALL": GBK_LOCALE, "PYTHONUTF8": "0"}
    env.pop("PYTHONIOENCODING", None)
    tests = str(REPO / "tests")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, env.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), tests], env=env, capture_output=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode("gbk", errors="replace")
    results = json.loads(done.stdout.decode("ascii"))
    assert results.pop("preferred").lower() in ("gbk", "cp936"), "the child did not run with GBK as default"
    assert results == {key: True for key in results}, results
    assert len(results) == 2 * len(LOADERS)

