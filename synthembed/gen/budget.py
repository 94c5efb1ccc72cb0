"""A hard budget cap in dollars and/or tokens, as an object requests ``await``.

Before a request is sent, its worst case (input tokens plus max output tokens, at the model's price)
is reserved; when it returns, the reservation is settled to the real usage. A reservation that
does not fit waits while other requests are in flight (their settlement may free room) and fails
with :class:`~synthembed.errors.BudgetExhausted` when nothing is in flight, so spend never passes
the cap and a capped run stops with less than one request's worst case unused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from synthembed.errors import BudgetExhausted
from synthembed.gen.pricing import MICRO


@dataclass
class Reservation:
    micros: int
    tokens: int
    settled: bool = False


class Budget:
    """Spend accounting against optional caps.

    Args:
        cap_micros: cap in micro-dollars, or None.
        cap_tokens: cap in tokens (input + output), or None.
        spent_micros, spent_tokens: what the run store says is spent already (resume).

    Example::

        budget = Budget(cap_micros=5 * MICRO, cap_tokens=None)
        r = await budget.reserve(micros=1200, tokens=900)
        ...
        await budget.settle(r, micros=700, tokens=640)
    """

    def __init__(
        self,
        cap_micros: int | None,
        cap_tokens: int | None,
        spent_micros: int = 0,
        spent_tokens: int = 0,
    ) -> None:
        self.cap_micros = cap_micros
        self.cap_tokens = cap_tokens
        self.spent_micros = spent_micros
        self.spent_tokens = spent_tokens
        self.reserved_micros = 0
        self.reserved_tokens = 0
        self.outstanding = 0
        self._changed = asyncio.Condition()

    def _fits(self, micros: int, tokens: int) -> bool:
        if (
            self.cap_micros is not None
            and self.spent_micros + self.reserved_micros + micros > self.cap_micros
        ):
            return False
        return not (
            self.cap_tokens is not None
            and self.spent_tokens + self.reserved_tokens + tokens > self.cap_tokens
        )

    def can_ever_fit(self, micros: int, tokens: int) -> bool:
        """Whether the request fits once nothing else is reserved."""
        if self.cap_micros is not None and self.spent_micros + micros > self.cap_micros:
            return False
        return not (self.cap_tokens is not None and self.spent_tokens + tokens > self.cap_tokens)

    def fits_now(self, micros: int, tokens: int) -> bool:
        """Whether a reservation of this size would be granted right away."""
        return self._fits(micros, tokens)

    def adopt(self, micros: int, tokens: int) -> Reservation:
        """Turn spend counted at worst case by the store into a reservation to settle later.

        A resumed batch run finds its earlier process's batches still open at the provider; the
        store counted their worst case as spent, and this moves it back to reserved, unchanged in sum.
        """
        self.spent_micros -= micros
        self.spent_tokens -= tokens
        self.reserved_micros += micros
        self.reserved_tokens += tokens
        self.outstanding += 1
        return Reservation(micros, tokens)

    async def reserve(self, micros: int, tokens: int) -> Reservation:
        """Reserve a request's worst case, waiting for settlements if needed.

        Raises:
            BudgetExhausted: the worst case cannot fit even once everything in flight is settled.
        """
        async with self._changed:
            while not self._fits(micros, tokens):
                if self.outstanding == 0 or not self.can_ever_fit(micros, tokens):
                    raise BudgetExhausted(self.exhausted_message(micros, tokens))
                await self._changed.wait()
            self.reserved_micros += micros
            self.reserved_tokens += tokens
            self.outstanding += 1
            return Reservation(micros, tokens)

    async def settle(self, reservation: Reservation, micros: int, tokens: int) -> None:
        """Replace a reservation by what was really spent (0 for a request that was not billed)."""
        if reservation.settled:
            return
        async with self._changed:
            reservation.settled = True
            self.reserved_micros -= reservation.micros
            self.reserved_tokens -= reservation.tokens
            self.outstanding -= 1
            self.spent_micros += micros
            self.spent_tokens += tokens
            self._changed.notify_all()

    def exhausted_message(self, micros: int = 0, tokens: int = 0) -> str:
        parts = []
        if self.cap_micros is not None:
            parts.append(f"${self.spent_micros / MICRO:,.4f} of ${self.cap_micros / MICRO:,.2f} spent")
        if self.cap_tokens is not None:
            parts.append(f"{self.spent_tokens:,} of {self.cap_tokens:,} tokens used")
        return (
            f"budget cap reached ({'; '.join(parts)}): the next request's worst case does not fit. "
            "Raise budget in the recipe and run the same command again to continue"
        )
