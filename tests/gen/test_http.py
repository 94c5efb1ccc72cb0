"""The SDKs' aiohttp client with one-pass request building builds exactly the stock requests."""

from __future__ import annotations

import asyncio

import anthropic
import httpx2
import openai
import pytest

from synthembed.gen.providers.http import aiohttp_client
from synthembed.gen.providers.remote import endpoint

URL = "http://127.0.0.1:8765/v1/chat/completions"
SDK_HEADERS = [
    ("authorization", "Bearer test-key"),
    ("accept", "application/json"),
    ("content-type", "application/json"),
    ("user-agent", "AsyncOpenAI/Python 0.0"),
    ("x-client-request-id", "abc123"),
    ("x-stainless-retry-count", "0"),
]


async def close(*clients: httpx2.AsyncClient) -> None:
    for c in clients:
        await c.aclose()


def same(a: httpx2.Request, b: httpx2.Request) -> None:
    assert a.method == b.method
    assert a.url == b.url and str(a.url) == str(b.url)
    assert a.headers.raw == b.headers.raw  # names spelled the same, in the same order
    assert a.read() == b.read()
    assert a.extensions == b.extensions


@pytest.mark.parametrize("sdk", [openai, anthropic])
@pytest.mark.parametrize(
    "headers",
    [
        SDK_HEADERS,
        [*SDK_HEADERS, ("Accept-Encoding", "identity"), ("X-Twice", "1"), ("x-twice", "2")],
        [(k.encode(), v.encode()) for k, v in SDK_HEADERS],
        httpx2.Headers([("Authorization", "Bearer k"), ("Accept", "application/json"), ("X-Api-Key", "k")]),
    ],
)
@pytest.mark.parametrize("timeout", [httpx2.Timeout(30.0), 12.5, None])
@pytest.mark.parametrize("url", [URL, httpx2.URL(URL)])
def test_requests_are_the_stock_ones(sdk, headers, timeout, url):
    client = aiohttp_client(sdk, timeout=30)
    stock = sdk.DefaultAioHttpClient(timeout=30)
    try:
        for _ in range(2):  # the second time from the parsed-URL cache
            kwargs = {
                "headers": headers,
                "timeout": timeout,
                "content": b'{"a":1}',
                "files": None,
                "params": None,
            }
            same(client.build_request("POST", url, **kwargs), stock.build_request("POST", url, **kwargs))
        # cookies the server set are sent back, as by the stock client
        for c in (client, stock):
            c.cookies.set("__cf_bm", "xyz", domain="127.0.0.1")
        kwargs = {"headers": headers, "timeout": timeout, "content": b"{}"}
        built = client.build_request("POST", url, **kwargs)
        same(built, stock.build_request("POST", url, **kwargs))
        assert "__cf_bm=xyz" in built.headers["cookie"]
    finally:
        asyncio.run(close(client, stock))


def test_anything_unusual_takes_the_stock_path():
    client = aiohttp_client(openai, base_url="http://127.0.0.1:8765/v1/")
    stock = openai.DefaultAioHttpClient(base_url="http://127.0.0.1:8765/v1/")
    try:
        cases = [
            ("GET", "models", {"headers": SDK_HEADERS, "timeout": 5.0}),  # relative URL
            ("GET", httpx2.URL("models"), {"headers": httpx2.Headers(SDK_HEADERS), "timeout": 5.0}),
            ("POST", URL, {"headers": SDK_HEADERS, "params": {}, "content": b"{}", "timeout": 5.0}),
            ("POST", URL, {"headers": SDK_HEADERS, "params": {"a": "b"}, "content": b"{}"}),
            ("POST", URL, {"headers": {"x-a": "1"}, "json": {"a": 1}}),
            ("POST", URL, {"headers": SDK_HEADERS, "data": {"a": "1"}}),
            ("POST", httpx2.URL(URL), {"headers": SDK_HEADERS, "extensions": {"sni_hostname": "x"}}),
        ]
        for method, url, kwargs in cases:
            same(client.build_request(method, url, **kwargs), stock.build_request(method, url, **kwargs))
    finally:
        asyncio.run(close(client, stock))


def test_requests_go_out_through_the_sdk(monkeypatch):
    """The SDK hands this client every request it sends, built in one pass, at the URL the SDK joins."""
    stock = httpx2.AsyncClient.build_request
    stock_calls = []

    def counting(self, *args, **kwargs):
        stock_calls.append(args)
        return stock(self, *args, **kwargs)

    monkeypatch.setattr(httpx2.AsyncClient, "build_request", counting)
    asyncio.run(_through_the_sdk())
    assert stock_calls == []


async def _through_the_sdk() -> None:
    sent: list[httpx2.Request] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, json={"ok": True})

    for sdk, base, path in (
        (openai, "http://127.0.0.1:1/v1", "/chat/completions"),
        (anthropic, "http://127.0.0.1:1", "/v1/messages"),
    ):
        http = aiohttp_client(sdk)
        http._transport = httpx2.MockTransport(handler)
        client = (sdk.AsyncOpenAI if sdk is openai else sdk.AsyncAnthropic)(
            api_key="k", base_url=base, max_retries=0, http_client=http
        )
        url = endpoint(client, path)
        assert url == str(client._prepare_url(path))
        raw = await client.post(url, content=b'{"x":1}', cast_to=httpx2.Response)
        assert raw.json() == {"ok": True}
        assert str(sent[-1].url) == url and sent[-1].read() == b'{"x":1}'
        assert sent[-1].headers["content-type"] == "application/json"
        await client.close()
