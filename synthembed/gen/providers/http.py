"""The HTTP client under the SDKs: their own aiohttp client, with each request built in one pass.

Both SDKs take an ``http_client`` (an ``httpx2.AsyncClient``; ``DefaultAioHttpClient`` is theirs on
aiohttp) and document it as the place to customise how requests go out. By the time the SDK calls
the client's ``build_request`` it has finished the request: an absolute URL string, every header,
the encoded body and a timeout. The stock ``build_request`` then parses that URL again and copies
the header list twice to merge it with the client's four defaults: about 100 us of the 1.5-2 ms of
CPU a whole request costs the engine (``bench/engine.py overhead``), where one core bounds the rate.

:func:`aiohttp_client` returns the SDK's own client class with a ``build_request`` that parses each
distinct URL once and merges the headers in one pass. The request it returns is the stock one
(same method, URL, headers in the same order, cookies, body and timeout; ``tests/gen/test_http.py``
compares them). The OpenAI SDK hands over a URL string and a header list, the Anthropic SDK a parsed
URL and a ``Headers``; both are taken as they are. Anything else (query parameters, form data,
files, per-request cookies or extensions, a relative URL) goes through the stock path untouched.
"""

from __future__ import annotations

from typing import Any

import httpx2

_CLASSES: dict[type, type] = {}
_MAX_URLS = 64


class _OnePassBuild:
    """Mixin over an ``httpx2.AsyncClient`` subclass; see the module docstring."""

    _parsed_urls: dict[str, httpx2.URL]

    def build_request(  # type: ignore[override]
        self,
        method: str,
        url: httpx2.URL | str,
        *,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        params: Any = None,
        headers: Any = None,
        cookies: Any = None,
        timeout: Any = httpx2.USE_CLIENT_DEFAULT,
        extensions: Any = None,
    ) -> httpx2.Request:
        stock = super().build_request  # type: ignore[misc]
        if (
            data is not None
            or files is not None
            or json is not None
            or params is not None
            or cookies
            or extensions
            or self.params  # type: ignore[attr-defined]
            or not isinstance(headers, list | httpx2.Headers)
            or timeout is httpx2.USE_CLIENT_DEFAULT
        ):
            return stock(
                method,
                url,
                content=content,
                data=data,
                files=files,
                json=json,
                params=params,
                headers=headers,
                cookies=cookies,
                timeout=timeout,
                extensions=extensions,
            )
        if isinstance(url, httpx2.URL):  # Anthropic's SDK hands over the URL it parsed
            parsed = url
        else:
            parsed = self._parsed_urls.get(url)
            if parsed is None:
                parsed = httpx2.URL(url)
                if not parsed.is_relative_url:
                    if len(self._parsed_urls) >= _MAX_URLS:
                        self._parsed_urls.clear()
                    self._parsed_urls[url] = parsed
        if parsed.is_relative_url:
            return stock(method, url, content=content, headers=headers, timeout=timeout)
        # httpx's merge: the client's defaults that the request does not set, then the request's own,
        # names spelled as given.
        given = headers.raw if isinstance(headers, httpx2.Headers) else headers
        names = {(k if isinstance(k, str) else k.decode("latin-1")).lower() for k, _ in given}
        own = [(k, v) for k, v in self.headers.raw if k.decode("latin-1").lower() not in names]  # type: ignore[attr-defined]
        return httpx2.Request(
            method,
            parsed,
            content=content,
            headers=[*own, *given],
            cookies=self.cookies,  # type: ignore[attr-defined]
            extensions={"timeout": httpx2.Timeout(timeout).as_dict()},
        )


def aiohttp_client(sdk: Any, **kwargs: Any) -> httpx2.AsyncClient:
    """The SDK's ``DefaultAioHttpClient`` (``openai`` or ``anthropic``), building requests in one pass.

    Args:
        sdk: the SDK module.
        **kwargs: passed to the client, as to ``DefaultAioHttpClient``.
    """
    base = sdk.DefaultAioHttpClient
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(f"OnePass{base.__name__.lstrip('_')}", (_OnePassBuild, base), {})
    client = cls(**kwargs)
    client._parsed_urls = {}
    return client
