"""The fake provider's batch APIs, driven through the official openai and anthropic SDKs over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletion

from synthembed.gen.prompts import TEMPLATES
from synthembed.gen.taxonomy import TASK_TYPES
from tests.fake_provider import FakeProviderConfig, FakeProviderServer, tokens
from tests.test_fake_provider import _http, anthropic_client, generate_prompt, openai_client, run, user

OPENAI_DONE = ("completed", "failed", "expired", "cancelled")
LONG_SYSTEM = [{"type": "text", "text": "background " * 500, "cache_control": {"type": "ephemeral"}}]


@pytest.fixture
def server():
    with FakeProviderServer(FakeProviderConfig(seed=7)) as s:
        yield s


def chat_line(custom_id: str, prompt: str = "Say something.", model: str = "gpt-test", **over: Any) -> dict:
    body = {"model": model, "messages": user(prompt)}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body, **over}


def jsonl(lines: list[dict | str]) -> bytes:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()


def message_request(custom_id: str, prompt: str = "Say something.", **params: Any) -> dict:
    return {
        "custom_id": custom_id,
        "params": {"model": "claude-test", "max_tokens": 1024, "messages": user(prompt), **params},
    }


async def upload(client: openai.AsyncOpenAI, lines: list[dict | str]) -> str:
    return (await client.files.create(file=("batch.jsonl", jsonl(lines)), purpose="batch")).id


async def openai_batch(client: openai.AsyncOpenAI, lines: list[dict | str], **kw: Any):
    file_id = await upload(client, lines)
    return await client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", **kw
    )


async def poll(fetch: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout: float = 10.0):
    """Fetch until ``done``; returns the last object and every object seen, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        seen.append(await fetch())
        if done(seen[-1]):
            return seen[-1], seen
        assert time.monotonic() < deadline, f"still not done after {timeout} s: {seen[-1]}"
        await asyncio.sleep(0.005)


async def openai_finished(client: openai.AsyncOpenAI, batch_id: str):
    return await poll(lambda: client.batches.retrieve(batch_id), lambda b: b.status in OPENAI_DONE)


async def anthropic_ended(client: anthropic.AsyncAnthropic, batch_id: str):
    return await poll(
        lambda: client.messages.batches.retrieve(batch_id), lambda b: b.processing_status == "ended"
    )


async def file_lines(client: openai.AsyncOpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [json.loads(line) for line in (await client.files.content(file_id)).text.splitlines()]


async def results(client: anthropic.AsyncAnthropic, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r.result async for r in await client.messages.batches.results(batch_id)}


def distinct(values: list[str]) -> list[str]:
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


# ---- the happy path


def test_openai_batch_moves_through_its_states_and_answers_like_the_online_endpoint(server):
    cfg = server.config
    cfg.batch_validating_s, cfg.batch_item_s, cfg.batch_finalizing_s = 0.1, 0.05, 0.1
    brainstorm = TEMPLATES[("retrieval", "brainstorm")][0].render({"num_tasks": "5"})
    lines = [chat_line("tasks", brainstorm), chat_line("sts", generate_prompt("sts")), chat_line("plain")]

    async def go():
        async with openai_client(server) as client:
            created = await openai_batch(client, lines, metadata={"run": "r1"})
            assert created.status == "validating" and created.request_counts.total == 0
            batch, seen = await openai_finished(client, created.id)
            out, err = (
                await file_lines(client, batch.output_file_id),
                await file_lines(client, batch.error_file_id),
            )
            with pytest.raises(openai.BadRequestError, match="Not allowed to download"):
                await client.files.content(created.input_file_id)
            online = await client.chat.completions.create(
                model="gpt-test", messages=user(brainstorm), extra_headers={"X-Client-Request-Id": "tasks"}
            )
            return batch, [b.status for b in seen], out, err, online

    batch, statuses, out, err, online = run(go())
    assert distinct(statuses) == ["validating", "in_progress", "finalizing", "completed"]
    counts = batch.request_counts
    assert (counts.total, counts.completed, counts.failed) == (3, 3, 0)
    assert batch.error_file_id is None and err == [] and batch.errors is None
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
    assert batch.expires_at == batch.created_at + 86_400
    assert batch.metadata == {"run": "r1"} and batch.model == "gpt-test"

    assert [line["custom_id"] for line in out] == ["tasks", "sts", "plain"]
    assert all(line["error"] is None and line["response"]["status_code"] == 200 for line in out)
    bodies = [ChatCompletion.model_validate(line["response"]["body"]) for line in out]
    assert len(json.loads(bodies[0].choices[0].message.content)) == 5
    assert list(json.loads(bodies[1].choices[0].message.content)) == list(TASK_TYPES["sts"].fields)
    # The same generator as online: the custom_id keys the answer like X-Client-Request-Id does.
    assert bodies[0].choices[0].message.content == online.choices[0].message.content

    billed = server.stats.batch.usage["openai"]
    assert billed["input_tokens"] == sum(b.usage.prompt_tokens for b in bodies) == batch.usage.input_tokens
    assert (
        billed["output_tokens"] == sum(b.usage.completion_tokens for b in bodies) == batch.usage.output_tokens
    )
    st = server.stats
    assert st.received == 1 and st.input_tokens == online.usage.prompt_tokens  # batch tokens stay apart
    assert st.batch.created == {"openai": 1, "anthropic": 0}
    assert st.batch.submitted["openai"] == {"tasks": 1, "sts": 1, "plain": 1}
    assert st.batch.polls["openai"] == len(statuses)
    assert st.batch.outcomes["openai"]["succeeded"] == 3


def test_anthropic_batch_counts_only_at_the_end_and_streams_results_with_cache_usage(server):
    server.config.batch_item_s = 0.05
    requests = [
        message_request("first", system=LONG_SYSTEM),
        message_request("second", system=LONG_SYSTEM),
        message_request("plain"),
    ]

    async def go():
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(requests=requests)
            with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
                await client.messages.batches.results(created.id)
            batch, seen = await anthropic_ended(client, created.id)
            return created, batch, seen, await results(client, created.id)

    created, batch, seen, got = run(go())
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.expires_at.timestamp() - created.created_at.timestamp() == pytest.approx(86_400)
    assert all(b.request_counts.processing == 3 and b.request_counts.succeeded == 0 for b in seen[:-1])
    assert batch.request_counts.succeeded == 3 and batch.request_counts.processing == 0
    assert batch.ended_at is not None and batch.cancel_initiated_at is None and batch.archived_at is None
    assert batch.results_url == f"{server.base_url}/v1/messages/batches/{batch.id}/results"

    assert list(got) == ["first", "second", "plain"]
    assert all(r.type == "succeeded" and r.message.content[0].text for r in got.values())
    cached = tokens(len(LONG_SYSTEM[0]["text"]))
    first, second = got["first"].message.usage, got["second"].message.usage
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (cached, 0)
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, cached)
    billed = server.stats.batch.usage["anthropic"]
    assert billed["cache_creation_input_tokens"] == billed["cached_input_tokens"] == cached
    assert billed["output_tokens"] == sum(r.message.usage.output_tokens for r in got.values())
    assert server.stats.batch.submitted["anthropic"] == {"first": 1, "second": 1, "plain": 1}


# ---- partial failures, expiry, cancel


def test_openai_partial_failures_fill_the_error_file_and_a_resent_item_gets_a_new_draw(server):
    server.config.batch_p_item_error = 0.5
    lines = [chat_line(f"r{i}") for i in range(20)]
    bad = chat_line("bad")
    del bad["body"]["messages"]

    async def go():
        client = openai_client(server)
        try:
            batch, _ = await openai_finished(client, (await openai_batch(client, [*lines, bad])).id)
            out, err = (
                await file_lines(client, batch.output_file_id),
                await file_lines(client, batch.error_file_id),
            )
            server.config.batch_p_item_error = 0.0
            again = [chat_line(line["custom_id"]) for line in err if line["custom_id"] != "bad"]
            retry, _ = await openai_finished(client, (await openai_batch(client, again)).id)
            return batch, out, err, retry
        finally:
            await client.close()

    batch, out, err, retry = run(go())
    assert batch.status == "completed"
    assert batch.request_counts.completed == len(out) and batch.request_counts.failed == len(err)
    assert len(out) >= 1 and len(err) >= 2
    assert {line["custom_id"] for line in out + err} == {f"r{i}" for i in range(20)} | {"bad"}
    errors = {line["custom_id"]: line["response"] for line in err}
    assert errors["bad"]["status_code"] == 400 and errors["bad"]["body"]["error"]["param"] == "messages"
    for custom_id, response in errors.items():
        assert custom_id == "bad" or (response["status_code"], response["body"]["error"]["type"]) == (
            500,
            "server_error",
        )
    assert all(line["error"] is None and line["response"]["request_id"] for line in err)

    assert retry.status == "completed" and retry.request_counts.completed == len(err) - 1
    submitted = server.stats.batch.submitted["openai"]
    assert {cid for cid, n in submitted.items() if n == 2} == set(errors) - {"bad"}
    assert server.stats.batch.outcomes["openai"]["errored"] == len(err)


def test_anthropic_partial_failures_are_errored_results(server):
    server.config.batch_p_item_error = 0.5
    requests = [message_request(f"r{i}") for i in range(20)]
    bad = message_request("bad")
    del bad["params"]["max_tokens"]

    async def go():
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(requests=[*requests, bad])
            batch, _ = await anthropic_ended(client, created.id)
            return batch, await results(client, created.id)

    batch, got = run(go())
    errored = {cid: r.error.error for cid, r in got.items() if r.type == "errored"}
    assert batch.request_counts.errored == len(errored) >= 2
    assert batch.request_counts.succeeded == 21 - len(errored) >= 1
    assert errored.pop("bad").type == "invalid_request_error"
    assert {e.type for e in errored.values()} == {"api_error"}


def test_expiry_leaves_the_unfinished_items_expired(server):
    server.config.batch_expire_after = 2

    async def go():
        async with openai_client(server) as oa, anthropic_client(server) as an:
            created = await openai_batch(oa, [chat_line(f"r{i}") for i in range(5)])
            batch, _ = await openai_finished(oa, created.id)
            out, err = await file_lines(oa, batch.output_file_id), await file_lines(oa, batch.error_file_id)
            created = await an.messages.batches.create(requests=[message_request(f"r{i}") for i in range(5)])
            message_batch, _ = await anthropic_ended(an, created.id)
            server.config.batch_expire_after, server.config.batch_window_s = None, 0.0
            late, _ = await openai_finished(oa, (await openai_batch(oa, [chat_line("late")])).id)
            return batch, out, err, message_batch, await results(an, created.id), late

    batch, out, err, message_batch, got, late = run(go())
    assert batch.status == "expired" and batch.expired_at and batch.completed_at is None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (
        5,
        2,
        0,
    )
    assert [line["custom_id"] for line in out] == ["r0", "r1"]
    assert [line["custom_id"] for line in err] == ["r2", "r3", "r4"]
    assert all(line["response"] is None and line["error"]["code"] == "batch_expired" for line in err)

    counts = message_batch.request_counts
    assert (counts.succeeded, counts.expired, counts.processing) == (2, 3, 0)
    assert [r.type for r in got.values()] == ["succeeded", "succeeded", "expired", "expired", "expired"]

    # The completion window: past expires_at, a batch expires whatever is left.
    assert late.status == "expired" and late.expires_at == late.created_at
    assert late.request_counts.completed == 0 and late.output_file_id is None


def test_cancel_stops_a_batch_and_reports_what_never_ran(server):
    server.config.batch_item_s, server.config.batch_cancelling_s = 0.05, 0.1

    async def go():
        async with openai_client(server) as oa, anthropic_client(server) as an:
            created = await openai_batch(oa, [chat_line(f"r{i}") for i in range(20)])
            await poll(lambda: oa.batches.retrieve(created.id), lambda b: b.request_counts.completed >= 1)
            cancelling = await oa.batches.cancel(created.id)
            batch, _ = await openai_finished(oa, created.id)
            err = await file_lines(oa, batch.error_file_id)
            with pytest.raises(openai.BadRequestError, match="already ended"):
                await oa.batches.cancel(created.id)

            mb = await an.messages.batches.create(requests=[message_request(f"r{i}") for i in range(20)])
            await asyncio.sleep(0.15)
            canceling = await an.messages.batches.cancel(mb.id)
            message_batch, _ = await anthropic_ended(an, mb.id)
            with pytest.raises(anthropic.BadRequestError, match="already ended"):
                await an.messages.batches.cancel(mb.id)
            return cancelling, batch, err, canceling, message_batch, await results(an, mb.id)

    cancelling, batch, err, canceling, message_batch, got = run(go())
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    assert batch.status == "cancelled" and batch.cancelled_at and batch.completed_at is None
    done = batch.request_counts.completed
    assert 1 <= done < 20 and len(err) == 20 - done
    assert all(line["error"]["code"] == "batch_cancelled" for line in err)

    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    counts = message_batch.request_counts
    assert counts.canceled >= 1 and counts.succeeded + counts.canceled == 20
    assert sum(r.type == "canceled" for r in got.values()) == counts.canceled


# ---- validation, limits, billing, keys


def test_openai_validation_fails_the_batch_with_the_line_of_each_error(server):
    lines = [
        chat_line("r1"),
        "{not json",
        chat_line("r1"),
        chat_line("r3", url="/v1/embeddings"),
        {"custom_id": "r4", "method": "POST", "url": "/v1/chat/completions"},
        chat_line("r5", model="gpt-other"),
    ]

    async def go():
        async with openai_client(server) as client:
            batch, _ = await openai_finished(client, (await openai_batch(client, lines)).id)
            empty, _ = await openai_finished(client, (await openai_batch(client, [])).id)
            return batch, empty

    batch, empty = run(go())
    assert batch.status == "failed" and batch.failed_at and batch.in_progress_at is None
    assert [(e.code, e.line, e.param) for e in batch.errors.data] == [
        ("invalid_json_line", 2, None),
        ("duplicate_custom_id", 3, "custom_id"),
        ("url_mismatch", 4, "url"),
        ("missing_required_parameter", 5, "body"),
        ("model_mismatch", 6, "body.model"),
    ]
    assert batch.output_file_id is None and batch.error_file_id is None
    assert batch.request_counts.total == 0
    assert [e.code for e in empty.errors.data] == ["empty_file"]
    assert server.stats.batch.submitted["openai"] == {}  # nothing ran, nothing billed
    assert server.stats.batch.usage["openai"]["input_tokens"] == 0


def test_the_enqueued_token_limit_fails_a_valid_batch_until_the_queue_drains(server):
    server.config.batch_item_s = 0.05
    server.config.openai_batch_enqueued_tokens = 20
    lines = [chat_line(f"r{i}") for i in range(4)]  # 4 prompt tokens each

    async def go():
        async with openai_client(server) as client:
            first = await openai_batch(client, lines)
            second, _ = await openai_finished(client, (await openai_batch(client, lines)).id)
            await openai_finished(client, first.id)
            third, _ = await openai_finished(client, (await openai_batch(client, lines)).id)
            return second, third

    second, third = run(go())
    assert second.status == "failed" and [e.code for e in second.errors.data] == ["token_limit_exceeded"]
    assert "Limit: 20 enqueued tokens" in second.errors.data[0].message
    assert third.status == "completed"
    assert server.stats.batch.submitted["openai"] == {f"r{i}": 2 for i in range(4)}


def test_size_limits_refuse_what_must_be_split(server):
    lines = [chat_line(f"r{i}") for i in range(7)]
    server.config.openai_batch_max_requests = server.config.anthropic_batch_max_requests = 3
    server.config.openai_batch_max_bytes = len(jsonl(lines[:3]))

    async def go():
        async with openai_client(server) as oa, anthropic_client(server) as an:
            with pytest.raises(openai.BadRequestError, match="File is too large"):
                await upload(oa, lines[:4])
            server.config.openai_batch_max_bytes = 10**6
            too_many, _ = await openai_finished(oa, (await openai_batch(oa, lines[:4])).id)
            chunks = [await openai_batch(oa, lines[i : i + 3]) for i in range(0, 7, 3)]
            done = [(await openai_finished(oa, b.id))[0] for b in chunks]

            requests = [message_request(f"r{i}") for i in range(4)]
            with pytest.raises(anthropic.BadRequestError, match="at most 3 requests"):
                await an.messages.batches.create(requests=requests)
            server.config.anthropic_batch_max_bytes = 100
            with pytest.raises(anthropic.APIStatusError) as e:
                await an.messages.batches.create(requests=requests[:3])
            return too_many, done, e.value

    too_many, done, too_large = run(go())
    assert too_many.status == "failed" and [e.code for e in too_many.errors.data] == ["too_many_tasks"]
    assert [b.status for b in done] == ["completed"] * 3
    assert server.stats.batch.submitted["openai"] == {f"r{i}": 1 for i in range(7)}
    assert too_large.status_code == 413 and too_large.body["error"]["type"] == "request_too_large"
    assert server.stats.batch.created["anthropic"] == 0


def test_exhausted_billing_refuses_batch_creation(server):
    server.config.billing_exhausted = True

    async def go():
        async with openai_client(server) as oa, anthropic_client(server) as an:
            with pytest.raises(openai.RateLimitError) as e:
                await openai_batch(oa, [chat_line("r1")])  # the upload passes, the create does not
            assert e.value.code == "insufficient_quota"
            with pytest.raises(anthropic.BadRequestError, match="credit balance is too low"):
                await an.messages.batches.create(requests=[message_request("r1")])

    run(go())
    assert server.stats.batch.created == {"openai": 0, "anthropic": 0}
    assert server.stats.batch.errors == {"billing": 2}


def test_batch_routes_check_the_key(server):
    async def go():
        async with openai_client(server, key="wrong-key") as oa, anthropic_client(server, key="wrong") as an:
            with pytest.raises(openai.AuthenticationError) as e:
                await upload(oa, [chat_line("r1")])
            assert e.value.code == "invalid_api_key"
            with pytest.raises(openai.AuthenticationError):
                await oa.batches.list()
            with pytest.raises(anthropic.AuthenticationError):
                await an.messages.batches.list()

    run(go())
    assert server.stats.batch.errors == {"auth": 3}
    assert server.stats.auth_errors == 0  # the online counters are the online endpoints' own


def test_batches_leave_the_online_rate_limits_and_fault_queue_alone(server):
    server.config.rpm = 1
    server.queue_faults("ok", "server_error")

    async def go():
        async with openai_client(server) as client:
            await openai_finished(client, (await openai_batch(client, [chat_line("r1")])).id)
            await client.chat.completions.create(model="gpt-test", messages=user("Hi"))  # the queued "ok"
            with pytest.raises(openai.RateLimitError):  # the one request a minute is spent
                await client.chat.completions.create(model="gpt-test", messages=user("Hi"))
            server.config.rpm = None
            with pytest.raises(openai.InternalServerError):  # and the queued fault is still there
                await client.chat.completions.create(model="gpt-test", messages=user("Hi"))

    run(go())


# ---- lists, lookups, control


def test_lists_run_newest_first_and_paginate(server):
    async def go():
        async with openai_client(server) as oa, anthropic_client(server) as an:
            ours = [(await openai_batch(oa, [chat_line("r1")])).id for _ in range(3)]
            theirs = [
                (await an.messages.batches.create(requests=[message_request("r1")])).id for _ in range(3)
            ]
            page = await oa.batches.list(limit=2)
            every = [b.id async for b in oa.batches.list(limit=2)]
            message_page = await an.messages.batches.list(limit=2)
            every_message = [b.id async for b in an.messages.batches.list(limit=2)]
            files = [f.id async for f in oa.files.list(purpose="batch")]
            return ours, theirs, page, every, message_page, every_message, files

    ours, theirs, page, every, message_page, every_message, files = run(go())
    assert [b.id for b in page.data] == ours[:0:-1] and page.has_more
    assert every == ours[::-1]
    assert [b.id for b in message_page.data] == theirs[:0:-1] and message_page.has_more
    assert message_page.first_id == theirs[2] and message_page.last_id == theirs[1]
    assert every_message == theirs[::-1]
    assert len(files) == 3


def test_unknown_ids_are_not_found_and_deleted_things_are_gone(server):
    async def go():
        async with openai_client(server) as oa, anthropic_client(server) as an:
            with pytest.raises(openai.NotFoundError):
                await oa.batches.retrieve("batch_nope")
            with pytest.raises(anthropic.NotFoundError):
                await an.messages.batches.retrieve("msgbatch_nope")
            file_id = await upload(oa, [chat_line("r1")])
            assert (await oa.files.retrieve(file_id)).purpose == "batch"
            assert (await oa.files.delete(file_id)).deleted
            with pytest.raises(openai.NotFoundError, match="No such File"):
                await oa.files.retrieve(file_id)

            created = await an.messages.batches.create(requests=[message_request("r1")])
            with pytest.raises(anthropic.BadRequestError, match="still in progress"):
                await an.messages.batches.delete(created.id)
            await anthropic_ended(an, created.id)
            assert (await an.messages.batches.delete(created.id)).type == "message_batch_deleted"
            with pytest.raises(anthropic.NotFoundError):
                await an.messages.batches.retrieve(created.id)

    run(go())


def test_control_sets_the_batch_knobs_and_stats_report_them(server):
    got = _http(server.base_url + "/_control", {"batch_p_item_error": 1.0, "batch_item_s": 0})
    assert got["config"]["batch_p_item_error"] == 1.0
    with pytest.raises(urllib.error.HTTPError) as e:
        _http(server.base_url + "/_control", {"batch_p_item_error": 2})
    e.value.close()
    assert e.value.code == 400 and server.config.batch_p_item_error == 1.0  # a refused change sets nothing

    async def go():
        async with anthropic_client(server) as client:
            created = await client.messages.batches.create(
                requests=[message_request(f"r{i}") for i in range(4)]
            )
            return (await anthropic_ended(client, created.id))[0]

    batch = run(go())
    assert batch.request_counts.errored == 4
    stats = _http(server.base_url + "/_stats?timestamps=0")["batch"]
    assert stats["outcomes"]["anthropic"]["errored"] == 4 and stats["created"]["anthropic"] == 1
    assert stats["submitted"]["anthropic"] == {f"r{i}": 1 for i in range(4)}
    _http(server.base_url + "/_reset", {})
    assert _http(server.base_url + "/_stats")["batch"]["created"]["anthropic"] == 0
    assert server.batches.batches[batch.id].end == "completed"  # a reset clears counts, not batches


def test_sync_clients_work_too(server):
    oa = openai.OpenAI(base_url=server.openai_base_url, api_key="test-key", max_retries=0, timeout=5)
    an = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test-key", max_retries=0, timeout=5)
    with oa, an:
        f = oa.files.create(file=("batch.jsonl", jsonl([chat_line("r1")])), purpose="batch")
        batch = oa.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        mb = an.messages.batches.create(requests=[message_request("r1")])
        deadline = time.monotonic() + 10
        while batch.status != "completed" or mb.processing_status != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.01)
            batch, mb = oa.batches.retrieve(batch.id), an.messages.batches.retrieve(mb.id)
        assert oa.files.content(batch.output_file_id).text.count("\n") == 1
        assert [r.result.type for r in an.messages.batches.results(mb.id)] == ["succeeded"]
