"""The ratings database: ``<run dir>/ratings.sqlite``, SQLite in WAL mode.

Schema (version 1)::

    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)
        schema_version, admin_token (the export link's secret), secret (signs CSRF tokens)
    raters(rater_id TEXT PRIMARY KEY,         -- r1, r2, ...
           token TEXT NOT NULL UNIQUE,        -- the secret in the rater's link
           seed INTEGER NOT NULL,             -- fixes the rater's order of pages
           created_at TEXT NOT NULL)          -- UTC, ISO 8601
    ratings(rater_id TEXT NOT NULL REFERENCES raters(rater_id),
            item_id TEXT NOT NULL,            -- wattbench.rating.items.item_id of the answer
            dimension TEXT NOT NULL,          -- a dimension's name, e.g. empathy
            score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
            comment TEXT NOT NULL DEFAULT '', -- the page's optional comment
            page_items TEXT NOT NULL,         -- the page's item ids, ','-joined, left to right
            rated_at TEXT NOT NULL,           -- UTC, ISO 8601
            PRIMARY KEY (rater_id, item_id, dimension))

One row per rating: a rater's grade of one answer on one dimension. Rating a page again
replaces that rater's rows for its answers (the latest grade counts). Every statement is
parameterised; the file is the only state the server keeps, so a restart resumes.
"""

from __future__ import annotations

import csv
import datetime as _dt
import secrets
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

RATINGS_FILE = "ratings.sqlite"
SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    rater_id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, seed INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ratings (
    rater_id TEXT NOT NULL REFERENCES raters(rater_id), item_id TEXT NOT NULL, dimension TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5), comment TEXT NOT NULL DEFAULT '',
    page_items TEXT NOT NULL, rated_at TEXT NOT NULL, PRIMARY KEY (rater_id, item_id, dimension));
"""
CSV_COLUMNS = ("rater_id", "item_id", "dimension", "score", "comment", "page_items", "rated_at")


@dataclass(frozen=True)
class Rater:
    """A rater: id, the secret token of their link and the seed of their order."""

    id: str
    token: str
    seed: int


@dataclass(frozen=True)
class Rating:
    """One row of the ratings table."""

    rater_id: str
    item_id: str
    dimension: str
    score: int
    comment: str
    page_items: str
    rated_at: str


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class RatingStore:
    """The ratings database of one run folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # check_same_thread off: the server answers from a thread pool; every write is one
        # transaction under SQLite's own lock, and WAL lets readers run beside the writer.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            for key in ("admin_token", "secret"):
                self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, secrets.token_urlsafe(24)))

    @classmethod
    def of_run(cls, run_dir: Path) -> RatingStore:
        """The store in ``run_dir`` (created when missing)."""
        return cls(run_dir / RATINGS_FILE)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def meta(self, key: str) -> str:
        """A meta value (schema_version, admin_token, secret)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return str(row[0])

    def ensure_raters(self, count: int) -> list[Rater]:
        """At least ``count`` raters (r1..rN), creating the missing ones; returns every rater."""
        with self._db:
            have = self._db.execute("SELECT COUNT(*) FROM raters").fetchone()[0]
            for number in range(have + 1, count + 1):
                self._db.execute(
                    "INSERT INTO raters VALUES (?, ?, ?, ?)",
                    (f"r{number}", secrets.token_urlsafe(16), secrets.randbits(31), _now()),
                )
        return self.raters()

    def raters(self) -> list[Rater]:
        """Every rater, in creation order."""
        rows = self._db.execute("SELECT rater_id, token, seed FROM raters ORDER BY rowid").fetchall()
        return [Rater(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def rater_by_token(self, token: str) -> Rater | None:
        """The rater whose link holds ``token``, or None."""
        query = "SELECT rater_id, token, seed FROM raters WHERE token = ?"
        row = self._db.execute(query, (token,)).fetchone()
        return None if row is None else Rater(str(row[0]), str(row[1]), int(row[2]))

    def save_page(
        self, rater_id: str, page: Sequence[str], scores: Mapping[str, Mapping[str, int]], comment: str
    ) -> None:
        """Store one page's grades: item id -> dimension -> 1..5, in one transaction."""
        at, joined = _now(), ",".join(page)
        with self._db:
            for item, by_dimension in scores.items():
                for dimension, score in by_dimension.items():
                    self._db.execute(
                        "INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (rater_id, item_id, dimension) DO UPDATE SET score = excluded.score, "
                        "comment = excluded.comment, page_items = excluded.page_items, "
                        "rated_at = excluded.rated_at",
                        (rater_id, item, dimension, int(score), comment, joined, at),
                    )

    def rated(self, rater_id: str) -> dict[str, set[str]]:
        """item id -> the dimensions this rater has graded it on."""
        done: dict[str, set[str]] = {}
        for item, dimension in self._db.execute(
            "SELECT item_id, dimension FROM ratings WHERE rater_id = ?", (rater_id,)
        ):
            done.setdefault(str(item), set()).add(str(dimension))
        return done

    def ratings(self) -> Iterator[Rating]:
        """Every rating, by rater, item and dimension."""
        for row in self._db.execute(
            f"SELECT {', '.join(CSV_COLUMNS)} FROM ratings ORDER BY rater_id, item_id, dimension"
        ):
            yield Rating(str(row[0]), str(row[1]), str(row[2]), int(row[3]), str(row[4]), str(row[5]),
                         str(row[6]))

    def absorb(self, source: Path) -> tuple[int, int]:
        """Copy the raters and ratings of another ratings.sqlite (a shard's, wattbench merge) into
        this store; returns (raters added, ratings copied).

        A rater whose secret token this store already holds is the same rater (a copied file);
        any other gets the next free id (r1, r2, ...), since two shards' "r1" are two people. A
        rating this store already holds for (rater, answer, dimension) keeps the later grade, as
        rating a page again does. Raises sqlite3.Error when ``source`` is not a ratings file.
        """
        db = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            query = "SELECT rater_id, token, seed, created_at FROM raters ORDER BY rowid"
            raters = db.execute(query).fetchall()
            rows = db.execute(f"SELECT {', '.join(CSV_COLUMNS)} FROM ratings").fetchall()
        finally:
            db.close()
        added = 0
        with self._db:
            ids: dict[str, str] = {}
            for rater_id, token, seed, created in raters:
                known = self._db.execute("SELECT rater_id FROM raters WHERE token = ?", (token,)).fetchone()
                if known is None:
                    have = self._db.execute("SELECT COUNT(*) FROM raters").fetchone()[0]
                    new_id = f"r{have + 1}"
                    self._db.execute("INSERT INTO raters VALUES (?, ?, ?, ?)", (new_id, token, seed, created))
                    ids[str(rater_id)] = new_id
                    added += 1
                else:
                    ids[str(rater_id)] = str(known[0])
            for row in rows:
                self._db.execute(
                    f"INSERT INTO ratings ({', '.join(CSV_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (rater_id, item_id, dimension) DO UPDATE SET score = excluded.score, "
                    "comment = excluded.comment, page_items = excluded.page_items, "
                    "rated_at = excluded.rated_at WHERE excluded.rated_at > ratings.rated_at",
                    (ids[str(row[0])], *row[1:]),
                )
        return added, len(rows)

    def export_csv(self, out: IO[str]) -> int:
        """Write every rating as CSV (CSV_COLUMNS); returns the number of rows."""
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        count = 0
        for r in self.ratings():
            writer.writerow([getattr(r, column) for column in CSV_COLUMNS])
            count += 1
        return count


def read_ratings(run_dir: Path) -> list[Rating]:
    """Every rating in ``run_dir``'s ratings.sqlite; [] when the folder has none (read-only)."""
    path = run_dir / RATINGS_FILE
    if not path.is_file():
        return []
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute(f"SELECT {', '.join(CSV_COLUMNS)} FROM ratings").fetchall()
    finally:
        db.close()
    return [Rating(str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]), str(r[6])) for r in rows]
