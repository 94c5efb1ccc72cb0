"""The run store's group commit."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from synthembed.gen.store import RunStore


def committed(path, request_id: str = "%") -> int:
    with contextlib.closing(sqlite3.connect(path)) as other:
        return other.execute(
            "SELECT COUNT(*) FROM attempts WHERE request_id LIKE ?", (request_id,)
        ).fetchone()[0]


def test_concurrent_writers_share_one_commit_and_a_cancelled_waiter_does_not_stop_it(tmp_path):
    async def main() -> None:
        store = RunStore.open(tmp_path)
        commits = 0
        commit = store.commit

        def counting() -> None:
            nonlocal commits
            commits += 1
            commit()

        store.commit = counting  # type: ignore[method-assign]

        async def writer(i: int) -> None:
            store.start_attempt(f"r{i}", "generate", "sts", 10, 10)
            await store.sync()
            assert committed(store.path, f"r{i}") == 1  # on disk when sync returns

        tasks = [asyncio.create_task(writer(i)) for i in range(20)]
        await asyncio.sleep(0)  # every writer has written and waits for the commit
        tasks[3].cancel()  # cancelled while waiting: the others still get their commit
        await asyncio.gather(*tasks, return_exceptions=True)
        assert commits == 1 and committed(store.path) == 20
        await store.sync()  # nothing pending: returns at once, no commit
        assert commits == 1
        store.close()

    asyncio.run(main())


def test_a_failed_commit_reaches_every_waiter(tmp_path):
    async def main() -> None:
        store = RunStore.open(tmp_path)

        def failing() -> None:
            raise sqlite3.OperationalError("database or disk is full")

        store.commit = failing  # type: ignore[method-assign]
        store.start_attempt("r", "generate", "sts", 10, 10)
        results = await asyncio.gather(store.sync(), store.sync(), return_exceptions=True)
        assert all(isinstance(r, sqlite3.OperationalError) for r in results)
        store.conn.rollback()
        store.conn.close()

    asyncio.run(main())
