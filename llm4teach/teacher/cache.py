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
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_S = 60.0  # seconds a process waits for another one's write to the cache


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/llm4teach/plans.sqlite``, else under ``~/.cache``; a process without a
    home folder (``HOME`` empty or relative) gets one line instead of a cache in ``/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = os.environ.get("HOME", os.path.expanduser("~"))
        if not os.path.isabs(home):
            raise ValueError(f"no folder for the teacher's answer cache: HOME is {home!r}; set "
                             "HOME or XDG_CACHE_HOME, or pass --data.teacher.cache_path FILE "
                             "(':memory:' keeps the answers for this process only)")
        base = os.path.join(home, ".cache")
    return Path(base) / "llm4teach" / "plans.sqlite"


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

    def __init__(self, path: str | Path | None, key: str) -> None:
        """``path`` None: ``default_cache_path()``, resolved on first use."""
        self.path, self.key = None if path is None else str(path), key
        self._conn: sqlite3.Connection | None = None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """A cache that cannot be used (not a database, a folder, another table layout,
        read-only, a full disk) is one ``ValueError`` naming the file and the fix."""
        try:
            yield
        except (sqlite3.Error, OSError) as err:
            reason = str(err).strip() or type(err).__name__
            raise ValueError(f"teacher answer cache {self.path} cannot be used ({reason}): move "
                             "or delete it, or pass another --data.teacher.cache_path (':memory:' "
                             "keeps the answers for this process only)") from None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path = self.path or str(default_cache_path())
            with self._guard():
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
                if self.path != ":memory:":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("CREATE TABLE IF NOT EXISTS plans (key TEXT, text TEXT, plans TEXT, "
                             "PRIMARY KEY (key, text))")
                conn.execute("SELECT key, text, plans FROM plans LIMIT 0")  # the layout
                conn.commit()
            self._conn = conn
        return self._conn

    def get(self, texts: Sequence[str]) -> dict[str, dict[str, float]]:
        """The cached answers among ``texts``."""
        if not texts:
            return {}
        conn = self._connect()
        marks = ",".join("?" * len(texts))
        with self._guard():
            rows = conn.execute(
                f"SELECT text, plans FROM plans WHERE key = ? AND text IN ({marks})",
                (self.key, *texts),
            ).fetchall()
        return {text: json.loads(plans) for text, plans in rows}

    def put(self, answers: dict[str, dict[str, float]]) -> None:
        """Store answers; a text another process stored first keeps its answer."""
        rows: Iterable[tuple[str, str, str]] = (
            (self.key, text, json.dumps(plans)) for text, plans in answers.items()
        )
        conn = self._connect()
        with self._guard(), conn:
            conn.executemany("INSERT OR IGNORE INTO plans VALUES (?, ?, ?)", rows)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_conn": None}  # connections do not cross processes
