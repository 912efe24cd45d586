"""Cases: what is asked of each model, built from every source a run names.

    case.py        Case and PromptGroup: one prompt for one model; the level variants of one item
    kinds.py       the task-kind table: which scorers apply, which metric is primary
    tasks.py       task files (fixtures/tasks/*.json) and padding.txt
    levels.py      L0 bare, L1 clarified, L2 guided, L3 with examples, P padded
    casefile.py    JSON test-case files (the seeds' shape)
    questions.py   MT-Bench-style question files and their reference answers
    humaneval.py   HumanEval-shape JSONL problems
    prompttable.py CSV and Excel prompt tables
    jsonlines.py   JSON Lines reading with clear errors
    textfile.py    how every input file is read (UTF-8, BOM or not)
    sources.py     each source turned into cases and level groups
    build.py       the run's whole case set, from its CaseOptions

To add a source: a reader module here that opens files through ``textfile.read_text``, a
``from_*`` builder in sources.py, and one line in build.py.
"""

from wattbench.cases.case import Case, PromptGroup, user_chat

__all__ = ["Case", "PromptGroup", "user_chat"]
