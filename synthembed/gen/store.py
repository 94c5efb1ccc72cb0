"""The run store: one SQLite database (WAL) per run, the single source of truth for resume and spend.

Layout of ``datasets/<name>/runs/<run-id>/``::

    store.sqlite    every attempt (request, response, usage, cost) and every result
    recipe.yaml     a copy of the recipe the run was started with
    lock            held (flock) by the process generating into this run

Tables:

- ``attempts``: one row per send. Written as ``inflight`` with its worst-case reservation *before*
  the request leaves, then settled with the real usage and cost. After a crash, ``inflight`` rows
  become ``orphaned`` and keep their reservation as spent: the provider may have billed them.
- ``results``: one row per finished request id (``ok``, ``rejected`` after the bounded re-asks, or
  ``failed``). A request with a result is never sent again.
- ``examples``: parsed examples, one per ``ok`` generate result, as JSON.
- ``tasks``: brainstormed task definitions with whether they were kept and why not.
- ``meta``: recipe hash, plan totals, status.

Writes are grouped: :meth:`RunStore.sync` commits everything written so far once the event loop
has run every coroutine that is ready, so hundreds of concurrent requests share one commit. The
runner awaits it where durability matters: after recording an attempt and before sending it, and
after recording a result. With WAL and ``synchronous=NORMAL`` a commit survives a killed process
(not a power cut).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthembed.errors import RunStoreError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    step TEXT NOT NULL,
    task_type TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,            -- inflight | ok | error | orphaned
    reserved_micros INTEGER NOT NULL,
    reserved_tokens INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL DEFAULT 0,
    billed_tokens INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    batch_id TEXT,                   -- the batch it was sent in (mode batch), else NULL
    latency_s REAL,
    model TEXT,
    finish_reason TEXT,
    text TEXT,
    error TEXT,
    parse_error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_request ON attempts(request_id);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,              -- ours, written before the batch is submitted
    api TEXT NOT NULL,                -- openai | anthropic
    provider_id TEXT,                 -- the provider's batch id, once submitted
    input_file_id TEXT,               -- OpenAI: the uploaded JSONL
    status TEXT NOT NULL,             -- preparing | submitted | collected | lost
    requests INTEGER NOT NULL,
    reserved_micros INTEGER NOT NULL,
    reserved_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    provider_status TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS attempts_status ON attempts(status);
CREATE TABLE IF NOT EXISTS results (
    request_id TEXT PRIMARY KEY,
    spec_id TEXT NOT NULL,
    step TEXT NOT NULL,
    task_type TEXT NOT NULL,
    idx INTEGER NOT NULL,
    language TEXT NOT NULL,
    template_id TEXT NOT NULL,
    task TEXT,
    status TEXT NOT NULL,             -- ok | rejected | failed
    reason TEXT,
    attempt_id INTEGER,
    finished_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_step ON results(step, task_type, status);
CREATE TABLE IF NOT EXISTS examples (
    id TEXT PRIMARY KEY,
    task_type TEXT NOT NULL,
    language TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    request_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    task_type TEXT NOT NULL,
    text TEXT NOT NULL,
    kept INTEGER NOT NULL,
    reason TEXT,
    PRIMARY KEY (request_id, position)
);
"""


#: Columns added to ``attempts`` after the first release of the schema: (name, declaration).
_ADDED_COLUMNS = (
    ("cache_write_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("batch_id", "TEXT"),
)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a store made by an older synthembed lacks (nothing is rewritten)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(attempts)")}
    for name, decl in _ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE attempts ADD COLUMN {name} {decl}")
    conn.execute("CREATE INDEX IF NOT EXISTS attempts_batch ON attempts(batch_id)")


@dataclass
class Spend:
    """Money and tokens a run has used, in micro-dollars and tokens.

    ``orphaned`` attempts (in flight when a process died) count at their reserved worst case.
    """

    micros: int = 0
    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    attempts: int = 0
    orphaned: int = 0


class RunStore:
    """A run's SQLite store. Open with :meth:`open`; use as a context manager to release the lock.

    Example::

        with RunStore.open(run_dir, lock=True) as store:
            store.spend()
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fh: Any | None) -> None:
        self.path = path
        self.conn = conn
        self._lock_fh = lock_fh
        self._waiters: list[asyncio.Future[None]] = []

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def open(cls, run_dir: str | Path, *, lock: bool = False, create: bool = True) -> RunStore:
        """Open (and create) the store of ``run_dir``.

        Args:
            lock: take the run's lock, as a generating process must; fails if another holds it.
            create: create the folder and database when missing.

        Raises:
            RunStoreError: the folder is missing (``create=False``), not writable, locked by another
                process, or the database is not a synthembed store.
        """
        run_dir = Path(run_dir)
        db = run_dir / "store.sqlite"
        if not create and not db.exists():
            raise RunStoreError(
                f"{run_dir}: no run here (no store.sqlite); start one with `synthembed generate`"
            )
        lock_fh = None
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            if lock:
                lock_fh = open(run_dir / "lock", "a+")  # noqa: SIM115 - held for the store's life
                try:
                    fcntl.flock(lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    lock_fh.seek(0)
                    holder = lock_fh.read().strip() or "another process"
                    lock_fh.close()
                    raise RunStoreError(
                        f"{run_dir}: this run is in use by {holder}; wait for it or stop it first"
                    ) from None
                lock_fh.seek(0)
                lock_fh.truncate()
                lock_fh.write(f"pid {os.getpid()}")
                lock_fh.flush()
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(_SCHEMA)
            _migrate(conn)
            found = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if found is None:
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) != SCHEMA_VERSION:
                raise RunStoreError(f"{db}: store schema {found[0]} is not {SCHEMA_VERSION}; use a new run")
        except sqlite3.DatabaseError as exc:
            if lock_fh:
                lock_fh.close()
            raise RunStoreError(f"{db}: cannot use the run store: {exc}") from None
        except OSError as exc:
            if lock_fh:
                lock_fh.close()
            raise RunStoreError(f"{run_dir}: cannot write the run folder: {exc.strerror or exc}") from None
        return cls(db, conn, lock_fh)

    def close(self) -> None:
        self.commit()
        self.conn.close()
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN")
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise self._disk_error(exc) from None

    def _disk_error(self, exc: sqlite3.OperationalError) -> Exception:
        if "disk" in str(exc) or "full" in str(exc):
            return RunStoreError(
                f"{self.path}: the disk is full; free space and run the same command again to resume"
            )
        return exc

    def commit(self) -> None:
        """Commit what has been written (no-op when nothing is pending)."""
        try:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise self._disk_error(exc) from None

    async def sync(self) -> None:
        """Wait until everything written so far is committed; concurrent callers share one commit.

        The commit runs once the event loop has run every coroutine that was ready, so all the
        writes made meanwhile go in it. A caller cancelled while waiting leaves the commit to the
        others.
        """
        if not self.conn.in_transaction:
            return  # nothing written since the last commit
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not self._waiters:
            loop.call_soon(self._flush)
        self._waiters.append(waiter)
        await waiter

    def _flush(self) -> None:
        waiters, self._waiters = self._waiters, []
        try:
            self.commit()
        except Exception as exc:  # surfaces in every waiter
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
        else:
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    # -- meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        self.commit()

    # -- attempts ---------------------------------------------------------------------------------
    def orphan_inflight(self) -> int:
        """Mark attempts left ``inflight`` by a dead process as ``orphaned`` (counted at worst case).

        Attempts inside a batch are left alone: the batch lives on at the provider and a later
        run collects it (:class:`synthembed.gen.batch.BatchRunner`).
        """
        cur = self._write(
            "UPDATE attempts SET status='orphaned', cost_micros=reserved_micros, billed_tokens=reserved_tokens,"
            " error='process ended while the request was in flight; counted at its worst case'"
            " WHERE status='inflight' AND batch_id IS NULL"
        )
        self.commit()
        return cur.rowcount

    def start_attempt(
        self,
        request_id: str,
        step: str,
        task_type: str,
        reserved_micros: int,
        reserved_tokens: int,
        batch_id: str | None = None,
    ) -> int:
        """Record a send before it happens, with its reservation; returns the attempt id."""
        cur = self._write(
            "INSERT INTO attempts (request_id, step, task_type, started_at, status, reserved_micros,"
            " reserved_tokens, batch_id) VALUES (?, ?, ?, ?, 'inflight', ?, ?, ?)",
            (request_id, step, task_type, time.time(), reserved_micros, reserved_tokens, batch_id),
        )
        return int(cur.lastrowid or 0)

    def finish_attempt(
        self,
        attempt_id: int,
        *,
        status: str,
        cost_micros: int,
        billed_tokens: int,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        latency_s: float | None = None,
        model: str | None = None,
        finish_reason: str | None = None,
        text: str | None = None,
        error: str | None = None,
        parse_error: str | None = None,
    ) -> None:
        self._write(
            "UPDATE attempts SET finished_at=?, status=?, cost_micros=?, billed_tokens=?, input_tokens=?,"
            " output_tokens=?, cached_tokens=?, cache_write_tokens=?, latency_s=?, model=?, finish_reason=?,"
            " text=?, error=?, parse_error=? WHERE id=?",
            (
                time.time(),
                status,
                cost_micros,
                billed_tokens,
                input_tokens,
                output_tokens,
                cached_tokens,
                cache_write_tokens,
                latency_s,
                model,
                finish_reason,
                text,
                error,
                parse_error,
                attempt_id,
            ),
        )

    def set_parse_error(self, attempt_id: int, reason: str) -> None:
        self._write("UPDATE attempts SET parse_error=? WHERE id=?", (reason, attempt_id))

    def spend(self) -> Spend:
        """Spend so far: settled costs plus the worst case of orphaned and in-flight attempts."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(CASE WHEN status='inflight' THEN reserved_micros ELSE cost_micros END), 0),"
            " COALESCE(SUM(CASE WHEN status='inflight' THEN reserved_tokens ELSE billed_tokens END), 0),"
            " COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),"
            " COALESCE(SUM(cache_write_tokens), 0), COUNT(*), COALESCE(SUM(status='orphaned'), 0) FROM attempts"
        ).fetchone()
        return Spend(*(int(v) for v in row))

    # -- batches ----------------------------------------------------------------------------------
    def add_batch(
        self, batch_id: str, api: str, requests: int, reserved_micros: int, reserved_tokens: int
    ) -> None:
        """Record a batch about to be submitted (``preparing``); its attempts name it."""
        now = time.time()
        self._write(
            "INSERT INTO batches (id, api, status, requests, reserved_micros, reserved_tokens, created_at,"
            " updated_at) VALUES (?, ?, 'preparing', ?, ?, ?, ?, ?)",
            (batch_id, api, requests, reserved_micros, reserved_tokens, now, now),
        )

    def update_batch(self, batch_id: str, **fields: Any) -> None:
        """Set a batch's ``status``, ``provider_id``, ``input_file_id``, ``provider_status`` or ``note``."""
        allowed = {"status", "provider_id", "input_file_id", "provider_status", "note"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown batch fields: {sorted(unknown)}")
        sets = ", ".join(f"{k}=?" for k in fields)
        self._write(
            f"UPDATE batches SET {sets}, updated_at=? WHERE id=?", (*fields.values(), time.time(), batch_id)
        )

    def open_batches(self) -> list[dict[str, Any]]:
        """Batches not yet collected (``preparing`` or ``submitted``), oldest first."""
        cur = self.conn.execute(
            "SELECT * FROM batches WHERE status IN ('preparing', 'submitted') ORDER BY created_at, id"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def batch_attempts(self, batch_id: str) -> dict[str, tuple[int, int, int]]:
        """request id -> (attempt id, reserved micros, reserved tokens) of a batch's unsettled attempts."""
        return {
            r[0]: (r[1], r[2], r[3])
            for r in self.conn.execute(
                "SELECT request_id, id, reserved_micros, reserved_tokens FROM attempts"
                " WHERE batch_id=? AND status='inflight'",
                (batch_id,),
            )
        }

    def batches_summary(self) -> dict[str, int]:
        """status -> number of batches."""
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM batches GROUP BY status").fetchall())

    def attempt_counts(self) -> dict[str, tuple[int, int]]:
        """request id -> (answers that failed to parse, errors) over attempts of unfinished requests."""
        rows = self.conn.execute(
            "SELECT request_id, SUM(parse_error IS NOT NULL), SUM(status IN ('error', 'expired'))"
            " FROM attempts WHERE request_id NOT IN (SELECT request_id FROM results) GROUP BY request_id"
        )
        return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in rows}

    # -- results ----------------------------------------------------------------------------------
    def finished_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT request_id FROM results")}

    def record_result(
        self,
        *,
        request_id: str,
        spec_id: str,
        step: str,
        task_type: str,
        idx: int,
        language: str,
        template_id: str,
        task: str | None,
        status: str,
        reason: str | None,
        attempt_id: int | None,
        example: dict[str, Any] | None = None,
        tasks: list[tuple[str, bool, str | None]] | None = None,
    ) -> None:
        """Record a request's final result (and its example or brainstormed tasks); :meth:`sync` commits."""
        self._write(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                spec_id,
                step,
                task_type,
                idx,
                language,
                template_id,
                task,
                status,
                reason,
                attempt_id,
                time.time(),
            ),
        )
        if example is not None:
            self._write(
                "INSERT OR REPLACE INTO examples VALUES (?, ?, ?, ?)",
                (example["id"], task_type, language, json.dumps(example, ensure_ascii=False)),
            )
        for pos, (text, kept, why) in enumerate(tasks or []):
            self._write(
                "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?)",
                (request_id, pos, task_type, text, int(kept), why),
            )

    def mark_task(self, request_id: str, position: int, reason: str) -> None:
        """Drop a brainstormed task from the pool, with the reason."""
        self._write(
            "UPDATE tasks SET kept=0, reason=? WHERE request_id=? AND position=?",
            (reason, request_id, position),
        )

    def brainstorm_tasks(self, task_type: str) -> list[tuple[str, str, int, bool]]:
        """(request_id, text, position, kept) of a type's brainstormed tasks, in plan order."""
        rows = self.conn.execute(
            "SELECT t.request_id, t.text, t.position, t.kept FROM tasks t JOIN results r"
            " ON r.request_id=t.request_id WHERE t.task_type=? ORDER BY r.idx, t.position",
            (task_type,),
        )
        return [(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def iter_examples(self) -> Iterator[dict[str, Any]]:
        for (data,) in self.conn.execute("SELECT data FROM examples ORDER BY rowid"):
            yield json.loads(data)

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """{step: {task_type: {status: n}}} over finished requests."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for step, task_type, status, n in self.conn.execute(
            "SELECT step, task_type, status, COUNT(*) FROM results GROUP BY step, task_type, status"
        ):
            out.setdefault(step, {}).setdefault(task_type, {})[status] = n
        return out

    def reasons(self) -> dict[str, int]:
        """Why requests ended without an example: reason -> count."""
        return dict(
            self.conn.execute(
                "SELECT COALESCE(reason, status), COUNT(*) FROM results WHERE status != 'ok' GROUP BY 1"
            ).fetchall()
        )
