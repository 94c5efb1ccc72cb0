"""A fake Hugging Face Hub on 127.0.0.1 that speaks the wire format of the real one.

Tests point the official clients at it (``HF_ENDPOINT``; see ``tests/hub/conftest.py``), so
``huggingface_hub.HfApi`` and ``datasets.load_dataset`` run their real HTTP code: the same routes,
headers, status codes and error bodies, and the libraries raise their own exception classes.

Repos live in memory. Each keeps every commit as a full snapshot ``{path: bytes}`` with its oid (40 hex
characters), parent, title, message and author, plus its branches (``main``) and tags. Creating a repo
makes an ``initial commit`` holding ``.gitattributes``, as the Hub does. Files are always "regular"
(sent inline, base64, in the NDJSON commit); LFS and Xet are not served, so keep test files small.

Routes (``{type}`` is ``models``, ``datasets`` or ``spaces``; ``{rev}`` is a branch, tag or commit oid,
URL-quoted as one path segment, e.g. ``refs%2Fpr%2F1``)::

    GET      /api/whoami-v2                              the token's user, orgs and role
    POST     /api/repos/create                           {name, organization, type, visibility}; 409 if it exists
    POST     /api/validate-yaml                          README metadata check (always valid)
    GET      /api/{type}/{ns}/{name}                     repo info at main (sha, siblings, cardData)
    GET      /api/{type}/{ns}/{name}/revision/{rev}      repo info at a revision
    GET      /api/{type}/{ns}/{name}/refs                branches and tags
    GET      /api/{type}/{ns}/{name}/commits/{rev}       history, newest first
    POST     /api/{type}/{ns}/{name}/preupload/{rev}     upload mode per file: always "regular"
    POST     /api/{type}/{ns}/{name}/commit/{rev}        NDJSON: header, file, deletedFile, deletedFolder
    POST     /api/{type}/{ns}/{name}/tag/{rev}           {tag, message}; 409 if the tag exists
    DELETE   /api/{type}/{ns}/{name}/tag/{tag}
    GET      /api/{type}/{ns}/{name}/tree/{rev}[/{path}] ?recursive=&expand=; directories first
    POST     /api/{type}/{ns}/{name}/paths-info/{rev}    form: paths=...&paths=...&expand=
    HEAD|GET /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{path}
                                                         the file; Range; X-Repo-Commit, ETag, Content-Length

Each route has a name (the last word of its handler, e.g. ``commit``, ``tag``), used by the request log
and the fault switch.

Auth mirrors the Hub: a token nobody issued gets 401 ``Invalid credentials in Authorization header`` on
every route (JSON ``{"error": ...}`` body and ``X-Error-Message`` header); an unknown repo, or a
private one the caller cannot see, gets 404 ``RepoNotFound``; writing without write access to the
namespace gets 403; an unknown revision 404 ``RevisionNotFound``; a missing file 404 ``EntryNotFound``
(with ``X-Repo-Commit``); an existing repo or tag 409; a stale ``parentCommit`` 412.

Example::

    with FakeHub() as hub:
        api = HfApi(endpoint=hub.endpoint, token=WRITE_TOKEN)
        api.create_repo("acme/embed", repo_type="dataset")
        hub.drop("tag")                      # the next tag request loses its connection
        hub.repo("acme/embed").tags          # {}
        [r.route for r in hub.requests]      # ["create_repo"]
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import yaml
from aiohttp import web

#: A token for user ``alice``, who may write to ``alice/*`` and ``acme/*``.
WRITE_TOKEN = "hf_fake-write-token-alice"
#: A token for user ``bob``, a member of ``acme`` who may read its repos but write only to ``bob/*``.
READ_TOKEN = "hf_fake-read-token-bob"

#: The routes that change the Hub's state.
WRITE_ROUTES = frozenset({"create_repo", "preupload", "commit", "tag", "delete_tag"})

GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n"
)

_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_BAD_TOKEN = "Invalid credentials in Authorization header"


@dataclass(frozen=True)
class Account:
    """Who a token belongs to and which namespaces it may write to."""

    user: str
    write: frozenset[str]
    orgs: frozenset[str] = frozenset()

    def can_read(self, namespace: str) -> bool:
        return namespace == self.user or namespace in self.orgs or namespace in self.write

    def can_write(self, namespace: str) -> bool:
        return namespace in self.write


DEFAULT_ACCOUNTS = {
    WRITE_TOKEN: Account("alice", write=frozenset({"alice", "acme"}), orgs=frozenset({"acme"})),
    READ_TOKEN: Account("bob", write=frozenset({"bob"}), orgs=frozenset({"acme"})),
}


def git_blob_oid(data: bytes) -> str:
    """The git object id of a file's content, as the Hub reports it for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


# ---- state


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.oid,
            "title": self.title,
            "message": self.message,
            "authors": [{"user": self.author}],
            "date": self.date,
        }


@dataclass
class Repo:
    repo_type: str  # "model" | "dataset" | "space"
    repo_id: str
    private: bool
    created_at: str = field(default_factory=_now)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/", 1)[0]

    def resolve(self, rev: str) -> Commit | None:
        """The commit a branch, tag or full commit oid names; None if it names nothing."""
        oid = self.branches.get(rev) or self.tags.get(rev) or rev
        return self.commits.get(oid)

    def history(self, rev: str = "main") -> list[Commit]:
        """Commits reachable from ``rev``, newest first."""
        out, commit = [], self.resolve(rev)
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out

    def add_commit(
        self, branch: str, title: str, message: str, author: str, files: dict[str, bytes]
    ) -> Commit:
        parent = self.branches.get(branch)
        seed = f"{parent}\x1f{title}\x1f{uuid.uuid4()}".encode()
        commit = Commit(hashlib.sha1(seed).hexdigest(), parent, title, message, author, _now(), files)
        self.commits[commit.oid] = commit
        self.branches[branch] = commit.oid
        return commit


@dataclass(frozen=True)
class RequestRecord:
    """One request the fake received; ``status`` is None when its connection was dropped."""

    method: str
    route: str
    path: str
    status: int | None


class HubError(Exception):
    """An error answer, raised inside a handler: the Hub's JSON body plus its error headers."""

    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}

    def response(self) -> web.Response:
        headers = {"X-Error-Message": self.message, **self.headers}
        if self.code:
            headers["X-Error-Code"] = self.code
        return _json({"error": self.message}, status=self.status, headers=headers)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers=headers, content_type="application/json"
    )


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}


# ---- trees


def _tree_oid(files: dict[str, bytes], folder: str) -> str:
    listing = "".join(
        f"{p}\0{git_blob_oid(d)}\n" for p, d in sorted(files.items()) if p.startswith(folder + "/")
    )
    return hashlib.sha1(b"tree " + listing.encode()).hexdigest()


def _last_commit(repo: Repo, commit: Commit, path: str, is_dir: bool) -> dict[str, Any]:
    """The newest commit, from ``commit`` back, that changed ``path`` (a file or a folder)."""

    def snapshot(c: Commit | None) -> Any:
        if c is None:
            return None
        if not is_dir:
            return c.files.get(path)
        return {p: d for p, d in c.files.items() if p.startswith(path + "/")}

    history = repo.history(commit.oid)
    for current, older in zip(history, [*history[1:], None], strict=True):
        if snapshot(current) != snapshot(older):
            return {"id": current.oid, "title": current.title, "date": current.date}
    return {"id": commit.oid, "title": commit.title, "date": commit.date}


def _entry(repo: Repo, commit: Commit, path: str, expand: bool) -> dict[str, Any] | None:
    """A tree / paths-info entry for ``path``; None if the commit has no such file or folder."""
    files = commit.files
    if path in files:
        out: dict[str, Any] = {
            "type": "file",
            "oid": git_blob_oid(files[path]),
            "size": len(files[path]),
            "path": path,
        }
    elif any(p.startswith(path + "/") for p in files):
        out = {"type": "directory", "oid": _tree_oid(files, path), "size": 0, "path": path}
    else:
        return None
    if expand:
        out["lastCommit"] = _last_commit(repo, commit, path, out["type"] == "directory")
    return out


def _tree(repo: Repo, commit: Commit, folder: str, recursive: bool, expand: bool) -> list[dict[str, Any]]:
    base = f"{folder}/" if folder else ""
    dirs: set[str] = set()
    files: list[str] = []
    for path in commit.files:
        if not path.startswith(base):
            continue
        parts = path[len(base) :].split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            dirs.add(base + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            files.append(path)
    if folder and not dirs and not files:
        raise HubError(404, f"Entry not found: {folder} is not a folder", "EntryNotFound")
    paths = [*sorted(dirs), *sorted(files)]  # the Hub lists directories first
    return [e for p in paths if (e := _entry(repo, commit, p, expand)) is not None]


# ---- the server


Handler = Callable[["_Call"], Awaitable[web.Response]]


@dataclass
class _Call:
    """What a handler gets: the request, the caller's account, the URL parameters and the body."""

    request: web.Request
    account: Account | None
    params: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


class FakeHub:
    """The fake Hub, served by aiohttp from a background thread with its own event loop."""

    def __init__(self, accounts: dict[str, Account] | None = None, host: str = "127.0.0.1") -> None:
        self.accounts = dict(DEFAULT_ACCOUNTS if accounts is None else accounts)
        self.host = host
        self.port: int | None = None
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[RequestRecord] = []
        self._faults: dict[str, list[bool]] = {}  # route -> queue of "after?" flags
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        api = r"^/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
        self._routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = [
            (frozenset({"GET"}), re.compile(r"^/api/whoami-v2$"), self._whoami),
            (frozenset({"POST"}), re.compile(r"^/api/repos/create$"), self._create_repo),
            (frozenset({"POST"}), re.compile(r"^/api/validate-yaml$"), self._validate_yaml),
            (frozenset({"GET"}), re.compile(api + r"(?:/revision/(?P<rev>[^/]+))?$"), self._repo_info),
            (frozenset({"GET"}), re.compile(api + r"/refs$"), self._refs),
            (frozenset({"GET"}), re.compile(api + r"/commits/(?P<rev>[^/]+)$"), self._commits),
            (frozenset({"POST"}), re.compile(api + r"/preupload/(?P<rev>[^/]+)$"), self._preupload),
            (frozenset({"POST"}), re.compile(api + r"/commit/(?P<rev>[^/]+)$"), self._commit),
            (frozenset({"POST"}), re.compile(api + r"/tag/(?P<rev>[^/]+)$"), self._tag),
            (frozenset({"DELETE"}), re.compile(api + r"/tag/(?P<tag>[^/]+)$"), self._delete_tag),
            (frozenset({"GET"}), re.compile(api + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"), self._tree),
            (frozenset({"POST"}), re.compile(api + r"/paths-info/(?P<rev>[^/]+)$"), self._paths_info),
            (
                frozenset({"GET", "HEAD"}),
                re.compile(
                    r"^/(?:(?P<type>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"
                ),
                self._resolve,
            ),
        ]

    # ---- public API

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``, what ``HF_ENDPOINT`` should say."""
        if self.port is None:
            raise RuntimeError("the fake Hub is not started")
        return f"http://{self.host}:{self.port}"

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        """A repo's state (KeyError if it does not exist)."""
        return self.repos[(repo_type, repo_id)]

    def drop(self, route: str, times: int = 1, *, after: bool = False) -> None:
        """Close the connection, with no response, on the next ``times`` requests to ``route``.

        With ``after=False`` the request is dropped before it does anything; with ``after=True`` it does
        its work (a commit lands, a tag is made) and only the response is lost.
        """
        with self._lock:
            self._faults.setdefault(route, []).extend([after] * times)

    @property
    def writes(self) -> list[RequestRecord]:
        """The requests received so far that would change the Hub's state."""
        return [r for r in self.requests if r.route in WRITE_ROUTES]

    def start(self) -> FakeHub:
        """Start serving on a free port in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("the fake Hub is already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="fake-hub", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self.port = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- serving

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            assert self._runner is not None
            loop.run_until_complete(self._runner.cleanup())
        finally:
            loop.close()
            self._loop = None

    async def _open(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        # Match on the raw path: revisions and folders arrive URL-quoted as single segments.
        path = request.raw_path.split("?", 1)[0]
        found = self._match(request.method, path)
        if found is None:
            self._record(request, "unknown", 404)
            return HubError(404, f"fake Hub: no route for {request.method} {path}").response()
        handler, match = found
        route = handler.__name__.lstrip("_")
        params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
        body = await request.read()
        with self._lock:
            queue = self._faults.get(route)
            fault = queue.pop(0) if queue else None
        if fault is False:
            return self._drop(request, route)
        try:
            response = await handler(_Call(request, self._account(request), params, body))
        except HubError as exc:
            response = exc.response()
        if fault is True:
            return self._drop(request, route)
        self._record(request, route, response.status)
        return response

    def _match(self, method: str, path: str) -> tuple[Handler, re.Match[str]] | None:
        for methods, pattern, handler in self._routes:
            if method in methods and (match := pattern.match(path)):
                return handler, match
        return None

    def _drop(self, request: web.Request, route: str) -> web.Response:
        self._record(request, route, None)
        # Close the connection with no response; aiohttp then skips writing the one returned.
        assert request.protocol is not None
        request.protocol.force_close()
        return web.Response()

    def _record(self, request: web.Request, route: str, status: int | None) -> None:
        self.requests.append(RequestRecord(request.method, route, request.raw_path, status))

    # ---- auth and lookups

    def _account(self, request: web.Request) -> Account | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        token = header.removeprefix("Bearer ").strip()
        if token not in self.accounts:
            raise HubError(401, _BAD_TOKEN)
        return self.accounts[token]

    def _visible(self, call: _Call) -> Repo:
        p = call.params
        repo = self.repos.get(
            (p["type"].removesuffix("s") if "type" in p else "model", f"{p['ns']}/{p['name']}")
        )
        if repo is None or (repo.private and not (call.account and call.account.can_read(repo.namespace))):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _writable(self, call: _Call) -> Repo:
        repo = self._visible(call)
        self._check_write(call.account, repo.namespace)
        return repo

    @staticmethod
    def _check_write(account: Account | None, namespace: str) -> None:
        if account is None:
            raise HubError(401, "Invalid username or password.")
        if not account.can_write(namespace):
            raise HubError(403, f"You don't have the rights to write to the namespace {namespace!r}")

    @staticmethod
    def _commit_at(repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    # ---- account and repo routes

    async def _whoami(self, call: _Call) -> web.Response:
        account = call.account
        if account is None:
            raise HubError(401, "Invalid username or password.")
        role = "write" if account.user in account.write else "read"
        return _json(
            {
                "type": "user",
                "name": account.user,
                "orgs": [{"name": org, "type": "org"} for org in sorted(account.orgs)],
                "auth": {"type": "access_token", "accessToken": {"displayName": "fake", "role": role}},
            }
        )

    async def _create_repo(self, call: _Call) -> web.Response:
        payload = call.json()
        if call.account is None:
            raise HubError(401, "Invalid username or password.")
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or call.account.user
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}"
        if not call.account.can_write(namespace):
            raise HubError(
                403, f"You don't have the rights to create a {repo_type} under the namespace {namespace!r}"
            )
        if (repo_type, repo_id) in self.repos:
            return _json({"error": f"You already created this {repo_type} repo", "url": url}, status=409)
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = Repo(repo_type, repo_id, private)
        repo.add_commit("main", "initial commit", "", call.account.user, {".gitattributes": GITATTRIBUTES})
        self.repos[(repo_type, repo_id)] = repo
        return _json({"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    async def _validate_yaml(self, call: _Call) -> web.Response:
        return _json({"errors": [], "warnings": []})

    async def _repo_info(self, call: _Call) -> web.Response:
        repo = self._visible(call)
        commit = self._commit_at(repo, call.params.get("rev", "main"))
        blobs = _truthy(call.request.rel_url.query.get("blobs"))
        siblings = [
            {"rfilename": p, **({"size": len(d), "blobId": git_blob_oid(d)} if blobs else {})}
            for p, d in sorted(commit.files.items())
        ]
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.namespace,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(len(d) for d in commit.files.values()),
        }
        card = _front_matter(commit.files.get("README.md", b""))
        if card is not None:
            info["cardData"] = card
        return _json(info)

    async def _refs(self, call: _Call) -> web.Response:
        repo = self._visible(call)

        def refs(names: dict[str, str], kind: str) -> list[dict[str, str]]:
            return [
                {"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid}
                for n, oid in sorted(names.items())
            ]

        return _json(
            {
                "branches": refs(repo.branches, "heads"),
                "tags": refs(repo.tags, "tags"),
                "converts": [],
                "pullRequests": [],
            }
        )

    async def _commits(self, call: _Call) -> web.Response:
        repo = self._visible(call)
        commit = self._commit_at(repo, call.params["rev"])
        return _json([c.to_json() for c in repo.history(commit.oid)])

    # ---- writing

    async def _preupload(self, call: _Call) -> web.Response:
        repo = self._writable(call)
        commit = self._commit_at(repo, call.params["rev"])
        files = call.json().get("files", [])
        return _json(
            {
                "files": [
                    {
                        "path": f["path"],
                        "uploadMode": "regular",
                        "shouldIgnore": False,
                        "oid": git_blob_oid(commit.files[f["path"]]) if f["path"] in commit.files else None,
                    }
                    for f in files
                ],
                "commitOid": commit.oid,
            }
        )

    async def _commit(self, call: _Call) -> web.Response:
        repo = self._writable(call)
        branch = call.params["rev"]
        if branch not in repo.branches:
            raise HubError(404, f"Invalid rev id: {branch} (commits go to a branch)", "RevisionNotFound")
        if _truthy(call.request.rel_url.query.get("create_pr")):
            raise HubError(400, "fake Hub: pull requests are not supported")
        lines = [json.loads(line) for line in call.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of a commit must be its header")
        header = lines[0]["value"]
        parent = repo.branches[branch]
        if header.get("parentCommit") not in (None, parent):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(repo.commits[parent].files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            path = value["path"]
            if key == "file":
                files[path] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            elif key == "deletedFolder":
                files = {p: d for p, d in files.items() if not p.startswith(path.rstrip("/") + "/")}
            else:
                raise HubError(400, f"fake Hub: unsupported commit operation {key!r} (keep test files small)")
        assert call.account is not None
        commit = repo.add_commit(
            branch, header["summary"], header.get("description", ""), call.account.user, files
        )
        url = f"{self.endpoint}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}/commit/{commit.oid}"
        return _json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": url,
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )

    async def _tag(self, call: _Call) -> web.Response:
        repo = self._writable(call)
        commit = self._commit_at(repo, call.params["rev"])
        tag = call.json()["tag"]
        if tag in repo.tags or tag in repo.branches:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = commit.oid
        return _json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit.oid})

    async def _delete_tag(self, call: _Call) -> web.Response:
        repo = self._writable(call)
        if repo.tags.pop(call.params["tag"], None) is None:
            raise HubError(404, f"Invalid rev id: {call.params['tag']}", "RevisionNotFound")
        return _json({})

    # ---- reading files

    async def _tree(self, call: _Call) -> web.Response:
        repo = self._visible(call)
        commit = self._commit_at(repo, call.params["rev"])
        query = call.request.rel_url.query
        folder = call.params.get("path", "").strip("/")
        return _json(
            _tree(repo, commit, folder, _truthy(query.get("recursive")), _truthy(query.get("expand")))
        )

    async def _paths_info(self, call: _Call) -> web.Response:
        repo = self._visible(call)
        commit = self._commit_at(repo, call.params["rev"])
        form = parse_qs(call.body.decode())
        expand = _truthy((form.get("expand") or [""])[0])
        entries = [_entry(repo, commit, p.strip("/"), expand) for p in form.get("paths", [])]
        return _json([e for e in entries if e is not None])

    async def _resolve(self, call: _Call) -> web.Response:
        repo = self._visible(call)
        commit = self._commit_at(repo, call.params["rev"])
        path = call.params["path"]
        if path not in commit.files:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        data = commit.files[path]
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{git_blob_oid(data)}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        wanted = call.request.headers.get("Range")
        if not wanted:
            return web.Response(body=data, headers=headers)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted.strip())
        if match is None:
            raise HubError(400, f"fake Hub: unsupported Range {wanted!r}")
        first, last = match.groups()
        start = int(first) if first else max(len(data) - int(last), 0)
        end = min(int(last), len(data) - 1) if first and last else len(data) - 1
        if start >= len(data):
            raise HubError(416, "Range Not Satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return web.Response(body=data[start : end + 1], status=206, headers=headers)


def _front_matter(readme: bytes) -> dict[str, Any] | None:
    """The YAML metadata block of a dataset card, as the Hub serves it in ``cardData``."""
    text = readme.decode("utf-8", errors="replace")
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if match is None:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None
