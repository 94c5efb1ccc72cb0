"""The fake Hub against the real huggingface_hub client: routes, errors and the fault switch."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, HfFileSystem, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from tests.fake_hub import READ_TOKEN, WRITE_ROUTES, WRITE_TOKEN, FakeHub, git_blob_oid

REPO = "acme/sample"


@pytest.fixture
def api(hub: FakeHub) -> HfApi:
    return HfApi(token=WRITE_TOKEN)


@pytest.fixture
def sample(api: HfApi) -> str:
    """A dataset repo with two commits; returns the second commit's oid."""
    api.create_repo(REPO, repo_type="dataset")
    add = [CommitOperationAdd(p, d) for p, d in {"README.md": b"# one\n", "data/a/x.txt": b"x1"}.items()]
    api.create_commit(REPO, add, commit_message="first", repo_type="dataset")
    ops = [CommitOperationAdd("data/a/x.txt", b"x2"), CommitOperationAdd("data/b/y.txt", b"y")]
    return api.create_commit(REPO, ops, commit_message="second", repo_type="dataset").oid


def test_whoami_knows_the_token_and_rejects_a_bad_one(api: HfApi) -> None:
    assert api.whoami()["name"] == "alice"
    assert HfApi(token=READ_TOKEN).whoami()["orgs"] == [{"name": "acme", "type": "org"}]
    with pytest.raises(HfHubHTTPError) as caught:
        HfApi(token="hf_unknown").whoami()
    assert caught.value.response.status_code == 401
    assert caught.value.response.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert caught.value.response.json() == {"error": "Invalid credentials in Authorization header"}


def test_create_repo_conflicts_unless_exist_ok(api: HfApi, hub: FakeHub) -> None:
    url = api.create_repo(REPO, repo_type="dataset")
    assert url.repo_id == REPO and url.repo_type == "dataset"
    assert api.create_repo(REPO, repo_type="dataset", exist_ok=True).repo_id == REPO
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_repo(REPO, repo_type="dataset")
    assert caught.value.response.status_code == 409
    assert [c.title for c in hub.repo(REPO).history()] == ["initial commit"]


def test_repo_info_tree_and_paths_info_at_any_revision(api: HfApi, sample: str) -> None:
    first = api.list_repo_commits(REPO, repo_type="dataset")[1].commit_id
    assert api.dataset_info(REPO).sha == sample
    assert api.dataset_info(REPO, revision=first).sha == first
    assert {s.rfilename for s in api.dataset_info(REPO, revision=first).siblings} == {
        ".gitattributes", "README.md", "data/a/x.txt",
    }  # fmt: skip

    top = list(api.list_repo_tree(REPO, repo_type="dataset"))
    assert [(type(e).__name__, e.path) for e in top] == [
        ("RepoFolder", "data"), ("RepoFile", ".gitattributes"), ("RepoFile", "README.md"),
    ]  # fmt: skip
    deep = {e.path for e in api.list_repo_tree(REPO, "data", recursive=True, repo_type="dataset")}
    assert deep == {"data/a", "data/b", "data/a/x.txt", "data/b/y.txt"}
    (x,) = api.list_repo_tree(REPO, "data/a", expand=True, repo_type="dataset")
    assert isinstance(x, RepoFile) and x.blob_id == git_blob_oid(b"x2") and x.last_commit.title == "second"

    infos = api.get_paths_info(REPO, ["data/a/x.txt", "data/b", "nope"], revision=first, repo_type="dataset")
    assert [type(i) for i in infos] == [RepoFile]
    (folder,) = api.get_paths_info(REPO, ["data/a"], repo_type="dataset")
    assert isinstance(folder, RepoFolder)
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_tree(REPO, repo_type="dataset", revision="v9").__next__()


def test_tags_with_a_slash_resolve_and_delete(api: HfApi, sample: str, hub: FakeHub) -> None:
    first = api.list_repo_commits(REPO, repo_type="dataset")[1].commit_id
    api.create_tag(REPO, tag="release/1", revision=first, repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_tag(REPO, tag="release/1", repo_type="dataset")
    assert caught.value.response.status_code == 409

    assert [(t.name, t.target_commit) for t in api.list_repo_refs(REPO, repo_type="dataset").tags] == [
        ("release/1", first)
    ]
    path = hf_hub_download(REPO, "data/a/x.txt", revision="release/1", repo_type="dataset")
    assert Path(path).read_bytes() == b"x1"
    assert any(r.route == "resolve" and "/resolve/release%2F1/" in r.path for r in hub.requests)

    api.delete_tag(REPO, tag="release/1", repo_type="dataset")
    assert hub.repo(REPO).tags == {}
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(REPO, tag="release/1", repo_type="dataset")


def test_missing_files_repos_and_private_repos(api: HfApi, sample: str) -> None:
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "missing.txt", repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("acme/missing")

    api.create_repo("acme/secret", repo_type="dataset", private=True)
    assert HfApi(token=READ_TOKEN).dataset_info("acme/secret").private  # bob is in acme
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).dataset_info("acme/secret")


def test_writing_needs_write_access_to_the_namespace(api: HfApi, sample: str) -> None:
    bob = HfApi(token=READ_TOKEN)
    with pytest.raises(HfHubHTTPError) as caught:
        bob.create_commit(REPO, [CommitOperationAdd("z", b"z")], commit_message="z", repo_type="dataset")
    assert caught.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as caught:
        bob.create_repo("acme/new", repo_type="dataset")
    assert caught.value.response.status_code == 403
    assert bob.create_repo("bob/own", repo_type="dataset").repo_id == "bob/own"


def test_commits_delete_files_and_check_the_parent(api: HfApi, sample: str, hub: FakeHub) -> None:
    api.create_commit(REPO, [CommitOperationDelete("data/b/")], commit_message="drop b", repo_type="dataset")
    assert "data/b/y.txt" not in hub.repo(REPO).resolve("main").files
    with pytest.raises(HfHubHTTPError) as caught:
        api.create_commit(
            REPO,
            [CommitOperationAdd("z", b"z")],
            commit_message="z",
            repo_type="dataset",
            parent_commit=sample,
        )
    assert caught.value.response.status_code == 412


def test_range_reads_through_hf_file_system(hub: FakeHub, api: HfApi, sample: str) -> None:
    fs = HfFileSystem(token=WRITE_TOKEN)
    with fs.open(f"datasets/{REPO}/README.md", "rb", block_size=2) as fh:
        fh.seek(2)
        assert fh.read(3) == b"one"
    assert fs.glob(f"datasets/{REPO}/data/*/*.txt") == [
        f"datasets/{REPO}/data/a/x.txt",
        f"datasets/{REPO}/data/b/y.txt",
    ]


def test_dropped_requests_and_the_request_log(api: HfApi, hub: FakeHub) -> None:
    api.create_repo(REPO, repo_type="dataset")
    hub.drop("commit", times=2)
    for _ in range(2):
        with pytest.raises(httpx2.RemoteProtocolError):
            api.create_commit(REPO, [CommitOperationAdd("a", b"a")], commit_message="a", repo_type="dataset")
    assert [c.title for c in hub.repo(REPO).history()] == ["initial commit"]

    hub.drop("commit", after=True)
    with pytest.raises(httpx2.RemoteProtocolError):
        api.create_commit(REPO, [CommitOperationAdd("a", b"a")], commit_message="a", repo_type="dataset")
    assert [c.title for c in hub.repo(REPO).history()] == ["a", "initial commit"]

    commits = [r for r in hub.requests if r.route == "commit"]
    assert [r.status for r in commits] == [None, None, None]
    assert {r.route for r in hub.writes} <= WRITE_ROUTES
