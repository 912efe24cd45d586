"""How every input file is read: UTF-8, with or without a byte-order mark, never the locale's.

Windows Notepad saves "UTF-8 with BOM" by default, and Python's default encoding on a Chinese
Windows is GBK: a reader that relies on either refuses or garbles files that are fine. Every
reader of a user's file (task files, test-case files, question and HumanEval JSONL, prompt
tables, system prompts, saved runs) goes through :func:`read_text`.
"""

from __future__ import annotations

from pathlib import Path

from wattbench.errors import ConfigError

ENCODING = "utf-8-sig"  # UTF-8; a leading byte-order mark, if any, is dropped


def read_text(path: Path, what: str = "file") -> str:
    """The text of ``path`` decoded as UTF-8 (a BOM is dropped).

    Raises ConfigError naming the file and the reason when it cannot be read, and the byte
    offset when it is not UTF-8 (with the fix: save it as UTF-8).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: the {what} cannot be read ({exc.strerror or exc})") from None
    try:
        return data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the {what} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 (in Notepad: Save as, Encoding: UTF-8) and run again"
        ) from None
