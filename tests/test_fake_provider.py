"""The fake provider, exercised through the official openai and anthropic SDKs over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from synthembed.gen.prompts import TEMPLATES
from synthembed.gen.taxonomy import TASK_TYPES
from tests.fake_provider import (
    REFUSAL_TEXT,
    FakeProviderConfig,
    FakeProviderServer,
    TokenBucket,
    go_duration,
    tokens,
)

PLAIN = [{"role": "user", "content": "Say something."}]


@pytest.fixture
def server():
    with FakeProviderServer(FakeProviderConfig(seed=7)) as s:
        yield s


def run(coro):
    return asyncio.run(coro)


def openai_client(
    server: FakeProviderServer, key: str = "test-key", timeout: float = 5.0
) -> openai.AsyncOpenAI:
    # verify=False: plain http needs no CA bundle, and loading one costs ~65 ms per client.
    return openai.AsyncOpenAI(
        base_url=server.openai_base_url,
        api_key=key,
        max_retries=0,
        timeout=timeout,
        http_client=openai.DefaultAioHttpClient(verify=False),
    )


def anthropic_client(
    server: FakeProviderServer, key: str = "test-key", timeout: float = 5.0
) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url,
        api_key=key,
        max_retries=0,
        timeout=timeout,
        http_client=anthropic.DefaultAioHttpClient(verify=False),
    )


class Sdk:
    """Both official clients on one server, each made on first use; an async context manager."""

    def __init__(self, server: FakeProviderServer, key: str = "test-key") -> None:
        self.server, self.key = server, key
        self._openai: openai.AsyncOpenAI | None = None
        self._anthropic: anthropic.AsyncAnthropic | None = None

    async def chat(self, messages=PLAIN, raw: bool = False, **kw: Any):
        self._openai = self._openai or openai_client(self.server, self.key)
        kw.setdefault("model", "gpt-test")
        api = self._openai.chat.completions
        return await (api.with_raw_response if raw else api).create(messages=messages, **kw)

    async def message(self, messages=PLAIN, raw: bool = False, **kw: Any):
        self._anthropic = self._anthropic or anthropic_client(self.server, self.key)
        kw.setdefault("model", "claude-test")
        kw.setdefault("max_tokens", 1024)
        api = self._anthropic.messages
        return await (api.with_raw_response if raw else api).create(messages=messages, **kw)

    async def __aenter__(self) -> Sdk:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in (self._openai, self._anthropic):
            if client is not None:
                await client.close()


def generate_prompt(task_type: str) -> str:
    template = TEMPLATES[(task_type, "generate")][0]
    values = {name: values[0] for name, values in TASK_TYPES[task_type].placeholders.items()}
    values.update(task="Find recipes for a dish.", language="German", src_lang="English", tgt_lang="French")
    return template.render(values)


def user(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


# ---- normal answers


def test_openai_completion_parses_with_usage(server):
    async def go():
        async with Sdk(server) as sdk:
            return await sdk.chat(raw=True)

    raw = run(go())
    r = raw.parse()
    text = r.choices[0].message.content
    assert text and r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-test"
    assert r.usage.prompt_tokens == tokens(len("Say something."))
    assert r.usage.completion_tokens == tokens(len(text))
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert raw.headers["x-request-id"].startswith("req_")


def test_anthropic_message_parses_with_usage(server):
    async def go():
        async with Sdk(server) as sdk:
            return await sdk.message(system="You are terse.")

    r = run(go())
    text = r.content[0].text
    assert r.content[0].type == "text" and text
    assert r.stop_reason == "end_turn"
    assert r.usage.input_tokens == tokens(len("You are terse.") + len("Say something."))
    assert r.usage.output_tokens == tokens(len(text))
    assert r.usage.cache_read_input_tokens == 0 and r.usage.cache_creation_input_tokens == 0


def test_answers_are_deterministic_per_seed_and_differ_per_request():
    async def three(server):
        async with Sdk(server) as sdk:
            return [(await sdk.chat()).choices[0].message.content for _ in range(3)]

    with (
        FakeProviderServer(FakeProviderConfig(seed=3)) as a,
        FakeProviderServer(FakeProviderConfig(seed=3)) as b,
    ):
        first, second = run(three(a)), run(three(b))
    assert first == second
    assert len(set(first)) == 3


def test_a_client_request_id_fixes_the_answer_whatever_the_arrival_order():
    async def answers(server, ids):
        async with Sdk(server) as sdk:
            got = {}
            for i in ids:
                r = await sdk.chat(extra_headers={"X-Client-Request-Id": i})
                got[i] = r.choices[0].message.content
            return got

    with (
        FakeProviderServer(FakeProviderConfig(seed=3)) as a,
        FakeProviderServer(FakeProviderConfig(seed=3)) as b,
    ):
        forward, backward = run(answers(a, ["r1", "r2", "r3"])), run(answers(b, ["r3", "r2", "r1"]))
    assert forward == backward
    assert len(set(forward.values())) == 3


def test_brainstorm_returns_a_json_array_of_distinct_tasks(server):
    async def go():
        async with Sdk(server) as sdk:
            for task_type in ("retrieval", "classification", "short_short", "long_long"):
                prompt = TEMPLATES[(task_type, "brainstorm")][0].render({"num_tasks": "17"})
                r = await sdk.chat(user(prompt), max_tokens=4000)
                tasks = json.loads(r.choices[0].message.content)
                assert isinstance(tasks, list) and len(tasks) == 17 == len(set(tasks)), task_type
                assert all(isinstance(t, str) and t.endswith(".") for t in tasks)

    run(go())


def test_generate_returns_a_json_object_with_the_template_keys(server):
    async def go():
        async with Sdk(server) as sdk:
            for task_type, spec in TASK_TYPES.items():
                r = await sdk.chat(user(generate_prompt(task_type)), max_tokens=4000)
                obj = json.loads(r.choices[0].message.content)
                assert list(obj) == list(spec.fields), task_type
                assert all(isinstance(v, str) and v for v in obj.values())
                m = await sdk.message(user(generate_prompt(task_type)), max_tokens=4000)
                assert list(json.loads(m.content[0].text)) == list(spec.fields)

    run(go())


def test_generate_follows_the_lengths_in_the_details(server):
    async def go():
        async with Sdk(server) as sdk:
            texts = [
                await sdk.chat(user(generate_prompt(t))) for t in ("retrieval", "classification", "long_long")
            ]
            return [json.loads(r.choices[0].message.content) for r in texts]

    retrieval, classification, long_long = run(go())
    assert len(retrieval["user_query"].split()) < 5  # "less than 5 words"
    assert len(retrieval["positive_document"].split()) >= 40
    assert len(classification["input_text"].split()) < 10  # "less than 10"
    assert classification["label"] != classification["misleading_label"]
    assert len(long_long["input"].split()) >= 300


def test_max_tokens_cuts_the_answer_and_reports_length(server):
    async def go():
        async with Sdk(server) as sdk:
            return (
                await sdk.chat(user(generate_prompt("retrieval")), max_tokens=20),
                await sdk.message(user(generate_prompt("sts")), max_tokens=5),
            )

    r, m = run(go())
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 20
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.choices[0].message.content)
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 5


def test_prompt_caching_reports_cached_tokens(server):
    long_prompt = "background " * 500  # 5,500 chars: over the 1,024-token cache minimum
    system = [{"type": "text", "text": long_prompt, "cache_control": {"type": "ephemeral"}}]

    async def go():
        async with Sdk(server) as sdk:
            return (
                await sdk.chat(user(long_prompt)),
                await sdk.chat(user(long_prompt + "and a question")),
                await sdk.message(system=system),
                await sdk.message(system=system),
            )

    first, second, a, b = run(go())
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details.cached_tokens == 1024
    cached = tokens(len(long_prompt))
    assert (a.usage.cache_creation_input_tokens, a.usage.cache_read_input_tokens) == (cached, 0)
    assert (b.usage.cache_creation_input_tokens, b.usage.cache_read_input_tokens) == (0, cached)
    assert b.usage.input_tokens == tokens(len(long_prompt) + len("Say something.")) - cached


# ---- errors


def test_bad_key_raises_authentication_error(server):
    async def go():
        async with Sdk(server, key="wrong-key") as sdk:
            with pytest.raises(openai.AuthenticationError) as e:
                await sdk.chat()
            assert e.value.code == "invalid_api_key"
            with pytest.raises(anthropic.AuthenticationError) as e:
                await sdk.message()
            assert e.value.body["error"]["type"] == "authentication_error"

    run(go())
    assert server.stats.auth_errors == 2


def test_unknown_model_raises_not_found(server):
    server.config.models = frozenset({"gpt-test", "claude-test"})

    async def go():
        async with Sdk(server) as sdk:
            await sdk.chat()
            with pytest.raises(openai.NotFoundError) as e:
                await sdk.chat(model="gpt-nope")
            assert e.value.code == "model_not_found"
            with pytest.raises(anthropic.NotFoundError) as e:
                await sdk.message(model="claude-nope")
            assert e.value.body["error"]["type"] == "not_found_error"

    run(go())


def test_exhausted_billing_raises_each_apis_error(server):
    server.config.billing_exhausted = True

    async def go():
        async with Sdk(server) as sdk:
            with pytest.raises(openai.RateLimitError) as e:
                await sdk.chat()
            assert e.value.code == "insufficient_quota"
            with pytest.raises(anthropic.BadRequestError) as e:
                await sdk.message()
            assert "credit balance is too low" in e.value.message

    run(go())


def test_malformed_request_is_a_bad_request(server):
    async def go():
        async with Sdk(server) as sdk:
            with pytest.raises(anthropic.BadRequestError):
                await sdk.message(messages=[])

    run(go())
    assert server.stats.bad_requests == 1


# ---- rate limits


def test_requests_over_the_limit_get_429_with_openai_headers(server):
    server.config.rpm = 2

    async def go():
        async with Sdk(server) as sdk:
            ok = await sdk.chat(raw=True)
            await sdk.chat()
            with pytest.raises(openai.RateLimitError) as e:
                await sdk.chat()
            return ok.headers, e.value

    headers, err = run(go())
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "1"
    assert re.fullmatch(r"\d+(\.\d+)?s", headers["x-ratelimit-reset-requests"])
    h = err.response.headers
    assert err.code == "rate_limit_exceeded" and err.type == "requests"
    assert h["x-ratelimit-remaining-requests"] == "0"
    assert 25 <= float(h["retry-after"]) <= 30  # one request of 2 per minute refills in 30 s
    assert 25_000 <= int(h["retry-after-ms"]) <= 30_000
    assert server.stats.rate_limited == 1 and server.stats.completed == 2


def test_output_tokens_over_the_limit_get_429_with_anthropic_headers(server):
    server.config.output_tpm = 1000

    async def go():
        async with Sdk(server) as sdk:
            ok = await sdk.message(raw=True, max_tokens=600)
            with pytest.raises(anthropic.RateLimitError) as e:
                await sdk.message(max_tokens=600)
            return ok.headers, e.value

    headers, err = run(go())
    assert headers["anthropic-ratelimit-output-tokens-limit"] == "1000"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "400"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers["anthropic-ratelimit-output-tokens-reset"]
    )
    assert err.body["error"]["type"] == "rate_limit_error"
    assert 10 <= float(err.response.headers["retry-after"]) <= 13  # 200 tokens at 1000/min


def test_per_second_limits_hold_a_seconds_worth_and_refill(server):
    server.config.rpm, server.config.per_second = 120, True  # 2 a second

    async def go():
        async with Sdk(server) as sdk:
            await sdk.chat()
            await sdk.chat()
            with pytest.raises(openai.RateLimitError) as e:
                await sdk.chat()
            wait = float(e.value.response.headers["retry-after"])
            await asyncio.sleep(wait)
            await sdk.chat()
            return wait

    assert 0 < run(go()) <= 0.5
    assert server.stats.completed == 3 and server.stats.rate_limited == 1


def test_token_bucket_refills_continuously_and_lets_a_big_request_into_debt():
    b = TokenBucket(600, per_second=True, now=0.0)  # 10 a second, holds 10
    assert b.capacity == 10 and b.wait_for(10, 0.0) == 0
    b.level -= 10
    assert b.wait_for(1, 0.0) == pytest.approx(0.1)
    assert b.wait_for(5, 0.5) == 0
    assert b.wait_for(50, 0.5) == pytest.approx(0.5)  # more than it holds: wait until full
    b.level -= 50
    assert b.remaining() == 0 and b.reset_after() == pytest.approx(5.5)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.02, "20ms"), (0.0, "0s"), (1.0, "1s"), (1.5, "1.5s"), (360.0, "6m0s"), (3725, "1h2m5s")],
)
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


# ---- faults


@pytest.mark.parametrize(
    ("fault", "openai_error", "anthropic_error"),
    [
        ("server_error", openai.InternalServerError, anthropic.OverloadedError),
        ("unavailable", openai.InternalServerError, anthropic.ServiceUnavailableError),
        ("timeout", openai.APITimeoutError, anthropic.APITimeoutError),
        ("drop", openai.APIConnectionError, anthropic.APIConnectionError),
        ("rate_limit", openai.RateLimitError, anthropic.RateLimitError),
    ],
)
def test_each_fault_raises_the_sdks_exception(server, fault, openai_error, anthropic_error):
    server.queue_faults(fault, fault)

    async def go():
        async with Sdk(server) as sdk:
            with pytest.raises(openai_error):
                await sdk.chat(timeout=0.3)
            with pytest.raises(anthropic_error):
                await sdk.message(timeout=0.3)
            await sdk.chat()  # the queue is spent: back to normal

    run(go())
    assert server.stats.faults[fault] == 2


def test_fault_status_codes(server):
    server.queue_faults("server_error", "unavailable", "server_error")

    async def go():
        async with Sdk(server) as sdk:
            for status in (500, 503):
                with pytest.raises(openai.APIStatusError) as e:
                    await sdk.chat()
                assert e.value.status_code == status
            with pytest.raises(anthropic.APIStatusError) as e:
                await sdk.message()
            assert e.value.status_code == 529

    run(go())


def test_malformed_truncated_and_refusal_answers(server):
    prompt = user(generate_prompt("retrieval"))
    server.queue_faults("malformed", "truncated", "refusal", "truncated")

    async def go():
        async with Sdk(server) as sdk:
            return [(await sdk.chat(prompt)).choices[0] for _ in range(3)], await sdk.message(prompt)

    (bad, cut, refusal), message = run(go())
    assert bad.finish_reason == "stop"
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.message.content)
    assert cut.finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.message.content)
    assert (refusal.message.content, refusal.finish_reason) == (REFUSAL_TEXT, "stop")
    assert message.stop_reason == "max_tokens"


def test_fault_probabilities_follow_the_seed():
    async def outcomes(server):
        out = []
        async with Sdk(server) as sdk:
            for _ in range(20):
                try:
                    await sdk.chat()
                    out.append("ok")
                except openai.InternalServerError:
                    out.append("error")
        return out

    config = dict(seed=11, p_server_error=0.5)
    with (
        FakeProviderServer(FakeProviderConfig(**config)) as a,
        FakeProviderServer(FakeProviderConfig(**config)) as b,
    ):
        first, second = run(outcomes(a)), run(outcomes(b))
        a.config.p_server_error = 0.0  # a runtime change takes effect at once
        assert run(outcomes(a)) == ["ok"] * 20
    assert first == second
    assert 3 <= first.count("error") <= 17


# ---- stats and control


def test_stats_count_requests_faults_and_billed_tokens(server):
    server.config.rpm = 5

    async def go():
        async with Sdk(server) as sdk:
            server.queue_faults("ok", "server_error", "drop", "ok")
            for _ in range(5):
                with contextlib.suppress(openai.InternalServerError, openai.APIConnectionError):
                    await sdk.chat(max_tokens=1)
            with pytest.raises(openai.RateLimitError):
                await sdk.chat(max_tokens=1)
        async with Sdk(server, key="bad") as sdk:
            with pytest.raises(openai.AuthenticationError):
                await sdk.chat()

    run(go())
    st = server.stats
    assert (st.received, st.completed, st.rate_limited, st.auth_errors) == (7, 3, 1, 1)
    assert st.faults["server_error"] == 1 and st.faults["drop"] == 1
    # Billed: the 3 answers sent and the dropped one, each 1 output token.
    assert st.output_tokens == 4
    assert st.input_tokens == 4 * tokens(len("Say something."))
    assert len(st.completion_times) == 3 and st.completion_times == sorted(st.completion_times)


def _http(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(
        urllib.request.Request(url, data=data, method="POST" if data else "GET")
    ) as r:
        return json.loads(r.read())


def test_control_stats_and_reset_endpoints(server):
    got = _http(server.base_url + "/_control", {"p_refusal": 1.0, "faults": ["server_error"]})
    assert got["config"]["p_refusal"] == 1.0 and got["queued_faults"] == ["server_error"]

    async def go():
        async with Sdk(server) as sdk:
            with pytest.raises(openai.InternalServerError):
                await sdk.chat()
            return (await sdk.chat()).choices[0].message.content

    assert run(go()) == REFUSAL_TEXT
    stats = _http(server.base_url + "/_stats")
    assert stats["received"] == 2 and stats["faults"]["refusal"] == 1 and len(stats["completion_times"]) == 1
    assert "completion_times" not in _http(server.base_url + "/_stats?timestamps=0")
    _http(server.base_url + "/_reset", {})
    assert _http(server.base_url + "/_stats")["received"] == 0
    with pytest.raises(urllib.error.HTTPError) as e:
        _http(server.base_url + "/_control", {"p_nonsense": 1})
    e.value.close()
    assert e.value.code == 400


def test_usable_from_async_code():
    async def go():
        async with FakeProviderServer() as server, Sdk(server) as sdk:
            return (await sdk.message()).stop_reason

    assert run(go()) == "end_turn"


def test_runs_as_a_separate_process():
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "tests.fake_provider", "--port", "0", "--rpm", "100", "--latency", "0.01"]
    with subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True) as proc:
        try:
            url = re.search(r"http://\S+", proc.stdout.readline()).group(0)
            control = _http(url + "/_control")
            assert control["config"]["rpm"] == 100 and control["config"]["latency_s"] == 0.01
        finally:
            proc.terminate()
    assert proc.returncode == 0
