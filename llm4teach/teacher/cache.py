"""Persistent plan cache (sqlite, stdlib): an LLM is only asked about texts it never saw.

Entries are keyed by a hash of everything that shapes an answer (backend, model,
revision or server URL, method, prompt, settings; never an API key) plus the state text.
The planners store only answers that gave a plan, so an empty or unparseable one is
asked again in a later run. Several processes may share one file: WAL journal, a busy
timeout, and ``INSERT OR IGNORE`` (first answer wins).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path.home() / ".cache" / "llm4teach" / "plans.sqlite"
BUSY_TIMEOUT_S = 60.0  # seconds a process waits for another one's write to the cache


def settings_key(settings: dict[str, Any]) -> str:
    """A stable hash of the settings that shape an answer."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


class PlanCache:
    """``{state text: {plan: prob}}`` per settings key, stored in sqlite.

    Example:
        >>> cache = PlanCache(":memory:", settings_key({"model": "m"}))
        >>> cache.put({"Agent sees <nothing>, holds <nothing>.": {"explore": 1.0}})
        >>> cache.get(["Agent sees <nothing>, holds <nothing>."])
        {'Agent sees <nothing>, holds <nothing>.': {'explore': 1.0}}
    """

    def __init__(self, path: str | Path, key: str) -> None:
        self.path, self.key = str(path), key
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS plans (key TEXT, text TEXT, plans TEXT, "
                "PRIMARY KEY (key, text))"
            )
            self._conn.commit()
        return self._conn

    def get(self, texts: Sequence[str]) -> dict[str, dict[str, float]]:
        """The cached answers among ``texts``."""
        if not texts:
            return {}
        conn = self._connect()
        marks = ",".join("?" * len(texts))
        rows = conn.execute(
            f"SELECT text, plans FROM plans WHERE key = ? AND text IN ({marks})",
            (self.key, *texts),
        )
        return {text: json.loads(plans) for text, plans in rows}

    def put(self, answers: dict[str, dict[str, float]]) -> None:
        """Store answers; a text another process stored first keeps its answer."""
        rows: Iterable[tuple[str, str, str]] = (
            (self.key, text, json.dumps(plans)) for text, plans in answers.items()
        )
        conn = self._connect()
        with conn:
            conn.executemany("INSERT OR IGNORE INTO plans VALUES (?, ?, ?)", rows)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_conn": None}  # connections do not cross processes
