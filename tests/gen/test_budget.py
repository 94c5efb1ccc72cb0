from __future__ import annotations

import asyncio

import pytest

from synthembed.errors import BudgetExhausted
from synthembed.gen.budget import Budget


def test_reserve_waits_for_settlement_then_fits():
    async def go():
        b = Budget(cap_micros=1000, cap_tokens=None)
        r1 = await b.reserve(600, 0)
        waiter = asyncio.create_task(b.reserve(600, 0))
        await asyncio.sleep(0.01)
        assert not waiter.done()  # 600 + 600 > 1000 while r1 is in flight
        await b.settle(r1, 300, 0)  # the real cost was lower
        r2 = await asyncio.wait_for(waiter, 1)
        assert b.spent_micros == 300 and b.reserved_micros == 600
        await b.settle(r2, 600, 0)
        with pytest.raises(BudgetExhausted, match="Raise budget"):
            await b.reserve(600, 0)  # 900 + 600 > 1000 and nothing in flight
        r3 = await b.reserve(100, 0)  # a smaller request still fits
        await b.settle(r3, 100, 0)
        assert b.spent_micros == 1000

    asyncio.run(go())


def test_token_cap():
    async def go():
        b = Budget(cap_micros=None, cap_tokens=100, spent_tokens=50)
        with pytest.raises(BudgetExhausted, match="tokens"):
            await b.reserve(0, 60)
        r = await b.reserve(0, 50)
        await b.settle(r, 0, 10)
        assert b.spent_tokens == 60

    asyncio.run(go())
