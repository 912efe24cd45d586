"""A large report writes its run files (results.csv, texts/, report.xlsx) in a second process:
the files are the same as one process writes, its failures come back, and the workbook's long
sheets stop at SHEET_ROWS with a row that says where the rest is."""

from __future__ import annotations

import errno
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openpyxl
import psutil
import pytest
import xlsxwriter
from studyrecords import record, write_run

import wattbench.report.build as build
import wattbench.report.helper as helper
import wattbench.report.workbook as workbook
from wattbench.errors import ReportInputError
from wattbench.report.build import write_report
from wattbench.report.runfiles import RunFiles
from wattbench.report.tables import text_path
from wattbench.report.workbook import Sheets

pytestmark = pytest.mark.filterwarnings("error")  # an unclosed pipe or a leaked process fails


def _study(tmp_path: Path) -> Path:
    """2 models x 2 tasks x 2 levels x 2 runs, one answer a formula, one judged, one failed run."""
    records = [
        record(model, task, "short", level, run, rouge_l=0.1 * (run + 1) + (level == "L1") * 0.3,
               energy_j=50.0 + 10 * run + (model == "b") * 30, latency_s=1.0 + run)
        for model in ("a", "b") for task in ("qa", "summary") for level in ("L0", "L1") for run in (0, 1)
    ]
    records[3]["output_text"] = '=HYPERLINK("https://x/?"&A1, "click")'
    records[3]["energy_method"] = "=1+1"  # a text column of results.csv
    records.append({**record("a", run=2), "error": "GenerationError: out of memory"})
    run = write_run(tmp_path / "run", records)
    with (run / "judgements.jsonl").open("w", encoding="utf-8") as out:
        out.write(json.dumps({"case_id": records[0]["case_id"], "run": 0, "judge_score": 0.8,
                              "judge_reason": "to the point"}) + "\n")
    return run


def _sheets(path: Path) -> dict[str, list[tuple[object, ...]]]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}
    finally:
        book.close()


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "report.xlsx"}


def test_two_processes_write_the_files_one_process_writes(tmp_path: Path) -> None:
    run = _study(tmp_path)
    one = write_report([run], tmp_path / "one" / "out", split=False)
    two = write_report([run], tmp_path / "two" / "out", split=True)
    assert _files(tmp_path / "one" / "out") == _files(tmp_path / "two" / "out")
    assert "texts/a/qa/short-L0-default-r1.txt" in str(list(_files(tmp_path / "two" / "out")))
    books = [_sheets(tmp_path / side / "out" / "report.xlsx") for side in ("one", "two")]
    assert books[0] == books[1]
    assert one.files == two.files == ["results.csv", "texts/", "stats.csv", "ratings.csv", "findings.md",
                                      "report.html", "report.xlsx"]
    results = (tmp_path / "two" / "out" / "results.csv").read_text(encoding="utf-8")
    assert ",'=1+1," in results and two.study.records == 16


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    """multiprocessing's spawn would import the script again in the helper: a script that runs
    a benchmark (pytest.main()) at top level would start it twice."""
    script = tmp_path / "study.py"
    script.write_text(
        "from pathlib import Path\n"
        "from wattbench.report.build import write_report\n"
        f"with open({str(tmp_path / 'runs.txt')!r}, 'a') as f:\n"
        "    f.write('ran\\n')\n"
        f"run, out = Path({str(_study(tmp_path))!r}), Path({str(tmp_path / 'out')!r})\n"
        "written = write_report([run], out, split=True)\n"
        "print(written.files, written.notes)\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs.txt").read_text() == "ran\n"
    assert "'results.csv', 'texts/'" in done.stdout and "[]" in done.stdout  # no note: the helper did it
    assert done.stderr == ""


def test_records_appended_during_the_report_are_left_to_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _study(tmp_path)
    sizes = build.results_sizes

    def then_a_run_appends(paths: list[Path]) -> dict[Path, int]:
        taken = sizes(paths)
        with (run / "results.jsonl").open("a", encoding="utf-8") as out:  # a run still going
            for i in range(5):
                out.write(json.dumps(record("late", run=i)) + "\n")
        return taken

    monkeypatch.setattr(build, "results_sizes", then_a_run_appends)
    written = write_report([run], tmp_path / "out", split=True)
    rows = (tmp_path / "out" / "results.csv").read_text(encoding="utf-8").splitlines()
    assert written.study.records == len(rows) - 1 == 16  # both processes: the records there at the start
    assert "late" not in {g["model"] for g in written.study.groups}


def test_a_failure_in_the_second_process_fails_the_report_before_the_study_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    rate = build.rated_groups

    def slowly(acc: Any) -> Any:
        time.sleep(1)  # a large study: the helper fails while this process still works
        return rate(acc)

    monkeypatch.setattr(build, "rated_groups", slowly)
    out = tmp_path / "out"
    (out / "results.csv").mkdir(parents=True)  # the helper cannot open its table
    with pytest.raises(IsADirectoryError) as raised:
        write_report([_study(tmp_path)], out, split=True)
    assert isinstance(raised.value.__cause__, helper.HelperTraceback)  # where, in the helper
    assert "in the report's second process" in str(raised.value.__cause__)
    assert "IsADirectoryError" in str(raised.value.__cause__)
    assert sorted(p.name for p in out.iterdir()) == ["results.csv"]  # the folder it found; nothing new
    assert "Fatal Python error" not in capfd.readouterr().err  # the helper ends cleanly, no core file


def test_a_second_process_that_is_killed_is_replaced_by_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = _own_temp(tmp_path, monkeypatch)
    send = helper.RunFilesHelper.add_sheets

    def killed_first(self: helper.RunFilesHelper, sheets: Sheets) -> None:
        deadline = time.monotonic() + 30
        while not list(temp.rglob("*")) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the helper has its workbook's temp files
        self._process.kill()  # as an OOM killer does, mid-way
        self._process.wait()
        send(self, sheets)

    monkeypatch.setattr(helper.RunFilesHelper, "add_sheets", killed_first)
    written = write_report([_study(tmp_path)], tmp_path / "out", split=True)
    assert "report.xlsx" in written.files and (tmp_path / "out" / "results.csv").stat().st_size > 0
    assert _sheets(tmp_path / "out" / "report.xlsx")["Quality detail"][1][0] == "a"
    notes = " ".join(written.notes)
    assert "ended without an answer" in notes and "this process wrote them instead" in notes
    assert not list(temp.iterdir())  # the killed helper's temp files went with it


def test_an_interrupt_here_ends_the_second_process_and_removes_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = _own_temp(tmp_path, monkeypatch)

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while this process writes the study's files

    monkeypatch.setattr(build, "render", interrupted)
    before = {child.pid for child in psutil.Process().children()}  # other tests' servers
    with pytest.raises(KeyboardInterrupt):
        write_report([_study(tmp_path)], tmp_path / "out", split=True)
    assert {child.pid for child in psutil.Process().children()} <= before  # the helper is gone
    left = {p.name for p in (tmp_path / "out").iterdir()}
    made = {"results.csv", "report.xlsx", "stats.csv", "ratings.csv", "findings.md", "report.html"}
    assert not left & made
    assert not list(temp.iterdir())


def test_an_interrupt_while_waiting_for_the_helper_removes_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"

    def interrupted(self: helper.RunFilesHelper) -> tuple[list[str], list[str]]:
        deadline = time.monotonic() + 30
        while not (out / "results.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.stop()  # Ctrl-C to this process alone, while it waits for the helper's answer
        raise KeyboardInterrupt

    monkeypatch.setattr(helper.RunFilesHelper, "finish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report([_study(tmp_path)], out, split=True)
    assert not {p.name for p in out.iterdir()} & {"results.csv", "report.xlsx", "stats.csv", "report.html"}


def test_a_module_in_the_current_folder_cannot_take_the_helpers_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cwd"
    folder.mkdir()
    marker = tmp_path / "hijacked"
    (folder / "pickle.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    monkeypatch.chdir(folder)
    write_report([_study(tmp_path)], tmp_path / "out", split=True)
    assert not marker.exists()


def test_a_failure_here_stops_the_second_process_and_removes_its_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")  # read after the run folder, by both processes
    with pytest.raises(ReportInputError, match=r"bad\.json: not a readable JSON file"):
        write_report([_study(tmp_path), bad], tmp_path / "out", split=True)
    left = {p.name for p in (tmp_path / "out").iterdir()}
    assert not left & {"results.csv", "report.xlsx"}, left


def _own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder for this process and the helper (XlsxWriter's row files go there)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def test_nothing_to_report_leaves_no_run_files_and_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = _own_temp(tmp_path, monkeypatch)
    run = write_run(tmp_path / "run", [{**record(), "error": "GenerationError: boom"}])
    for split in (False, True):
        with pytest.raises(ReportInputError, match="nothing to report"):
            write_report([run], tmp_path / "out", split=split)
        assert not {p.name for p in (tmp_path / "out").iterdir()} & {"results.csv", "report.xlsx"}
        assert not list(temp.iterdir())  # a discarded workbook leaves no empty sheet files


def test_small_reports_stay_in_one_process_large_ones_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _study(tmp_path)
    assert not helper.worth_splitting([run])
    monkeypatch.setattr(helper, "SPLIT_BYTES", 1)
    monkeypatch.setattr(helper, "_cpus", lambda: 2)
    assert helper.worth_splitting([run])
    bench_json = tmp_path / "bench.json"
    bench_json.write_text('{"benchmarks": []}', encoding="utf-8")
    assert not helper.worth_splitting([run, bench_json])  # read whole: each process would hold it
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert not helper.worth_splitting([run])  # a frozen app's executable would run the app again
    monkeypatch.delattr(sys, "frozen")
    monkeypatch.setattr(helper, "_cpus", lambda: 1)
    assert not helper.worth_splitting([run])


def test_the_long_sheets_stop_at_the_limit_and_say_where_every_row_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workbook, "SHEET_ROWS", 3)
    written = write_report([_study(tmp_path)], tmp_path / "out", split=False)
    sheets = _sheets(tmp_path / "out" / "report.xlsx")
    detail, stats = sheets["Quality detail"], sheets["Stats"]
    assert len(detail) == 1 + 3 + 1 and len(stats) == 1 + 3 + 1
    assert detail[-1][0] == (
        "3 of 16 runs shown here; every run is in results.csv, every answer in texts/"
    )
    groups = len(written.study.groups)
    assert stats[-1][0] == f"3 of {groups} groups shown here; every group, with its CIs, is in stats.csv"
    energy = sheets["Energy J"]  # 2 models x 2 tasks x 1 load
    assert len(energy) == 1 + 3 + 1 and energy[-1][0] == (
        "3 of 4 (model, task, load) rows shown here; every group mean is in stats.csv"
    )
    assert len(sheets["Per task"]) == 1 + len(written.study.configs)  # the rating sheets are complete
    assert len(sheets["Models"]) == 1 + len(written.study.overall)
    write_report([_study(tmp_path)], tmp_path / "bare", split=False, texts=False)
    assert _sheets(tmp_path / "bare" / "report.xlsx")["Quality detail"][-1][0] == (
        "3 of 16 runs shown here; every run is in results.csv, every answer in the saved runs (results.jsonl)"
    )
    monkeypatch.setattr(workbook, "SHEET_ROWS", 16)
    write_report([_study(tmp_path)], tmp_path / "whole", split=False)
    # No note when every row fits.
    assert len(_sheets(tmp_path / "whole" / "report.xlsx")["Quality detail"]) == 1 + 16


def test_an_answer_file_stays_in_texts_whatever_the_run_says() -> None:
    hostile = record(run="/../../../escaped", system_prompt="default")
    path = text_path(hostile)
    assert path.parts[0] == "texts" and ".." not in path.parts and len(path.parts) == 4


def test_a_disk_that_fills_while_discarding_still_leaves_no_run_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    close = xlsxwriter.Workbook.close

    def full(self: xlsxwriter.Workbook) -> None:
        close(self)  # XlsxWriter writes the whole workbook on close: a full disk fails it there
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(xlsxwriter.Workbook, "close", full)
    files = RunFiles(tmp_path, texts=False)
    files.add(record(system_prompt="default"), {})
    files.discard()
    assert list(tmp_path.iterdir()) == []


def test_an_infinite_figure_is_no_figure_not_a_crash(tmp_path: Path) -> None:
    """json.dumps writes Infinity (a division by zero in a meter): the report leaves it out as it
    leaves out NaN, where the page's axes and the stars used to fail on it."""
    records = [record("a", level=level, run=run) for level in ("L0", "L1") for run in (0, 1)]
    records[0] |= {"latency_s": math.inf, "rouge_l": math.inf, "energy_j": -math.inf}
    written = write_report([write_run(tmp_path / "run", records)], tmp_path / "out")
    group = next(g for g in written.study.groups if g["level"] == "L0")
    assert (group["latency_s_mean"], group["quality_mean"], group["energy_j_mean"]) == (2.0, 0.5, 100.0)
    assert "inf" in (tmp_path / "out" / "results.csv").read_text(encoding="utf-8")  # the record, as it is
