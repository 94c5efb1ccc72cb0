"""Publishing a release to the (fake) Hub, and reading it back through the real datasets library."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import huggingface_hub.constants
import pytest
from huggingface_hub import hf_hub_download

from synthembed.errors import ConfigError, ReleaseError
from synthembed.hub.publish import publish_release
from tests.fake_hub import READ_TOKEN, WRITE_TOKEN, FakeHub
from tests.hub.builders import build_release, release_rows, snapshot

REPO = "acme/tiny-embed"


def release_commits(hub: FakeHub) -> list[str]:
    """Titles of the release commits on main, newest first."""
    return [c.title for c in hub.repo(REPO).history() if c.title.startswith("Release")]


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    return tmp_path / "releases"


def test_two_versions_load_at_their_tags(hub: FakeHub, releases: Path, tmp_path: Path) -> None:
    v1, v11 = build_release(releases, "1.0.0"), build_release(releases, "1.1.0")

    first = publish_release(v1, REPO, token=WRITE_TOKEN)
    second = publish_release(v11, REPO, token=WRITE_TOKEN)

    assert first.actions == ("create_repo", "commit", "tag")
    assert second.actions == ("commit", "tag")
    assert release_commits(hub) == ["Release v1.1.0", "Release v1.0.0"]
    assert hub.repo(REPO).tags == {"v1.0.0": first.commit, "v1.1.0": second.commit}
    assert first.url == f"{hub.endpoint}/datasets/{REPO}/tree/v1.0.0"

    for version in ("1.0.0", "1.1.0"):
        loaded = datasets.load_dataset(REPO, "sts", revision=f"v{version}", cache_dir=str(tmp_path / "cache"))
        for split in ("train", "test"):
            assert loaded[split].to_list() == release_rows(version, "sts", split)
        readme = Path(hf_hub_download(REPO, "README.md", revision=f"v{version}", repo_type="dataset"))
        assert readme.read_bytes() == (releases / version / "README.md").read_bytes()
        assert f"describes version {version}" in readme.read_text(encoding="utf-8")


def test_files_a_new_version_drops_are_deleted_from_main_but_kept_at_the_old_tag(
    hub: FakeHub, releases: Path
) -> None:
    publish_release(build_release(releases, "1.0.0"), REPO, token=WRITE_TOKEN)
    result = publish_release(build_release(releases, "1.1.0", configs=("sts",)), REPO, token=WRITE_TOKEN)

    assert result.deleted == ("data/retrieval/test.parquet", "data/retrieval/train.parquet")
    repo = hub.repo(REPO)
    assert sorted(repo.resolve("v1.1.0").files) == [
        ".gitattributes", "README.md", "data/sts/test.parquet", "data/sts/train.parquet", "manifest.json",
    ]  # fmt: skip
    assert "data/retrieval/train.parquet" in repo.resolve("v1.0.0").files


def test_publishing_the_same_version_again_sends_nothing(hub: FakeHub, releases: Path) -> None:
    folder = build_release(releases, "1.0.0")
    first = publish_release(folder, REPO, token=WRITE_TOKEN)
    writes = len(hub.writes)

    again = publish_release(folder, REPO, token=WRITE_TOKEN)

    assert again.already_published and again.actions == ()
    assert again.commit == first.commit
    assert len(hub.writes) == writes
    assert "already published" in again.summary()[0]


def test_a_tag_that_holds_other_content_is_refused(hub: FakeHub, tmp_path: Path) -> None:
    publish_release(build_release(tmp_path / "a", "1.0.0"), REPO, token=WRITE_TOKEN)
    other = build_release(tmp_path / "b", "1.0.0", configs=("sts",))
    writes = len(hub.writes)

    with pytest.raises(ReleaseError, match=r"already has tag v1\.0\.0 .* never overwritten"):
        publish_release(other, REPO, token=WRITE_TOKEN)

    assert len(hub.writes) == writes
    assert release_commits(hub) == ["Release v1.0.0"]


@pytest.mark.parametrize("after", [False, True], ids=["before-tagging", "after-tagging"])
def test_a_dropped_tag_request_is_finished_by_a_retry_without_a_second_commit(
    hub: FakeHub, releases: Path, after: bool
) -> None:
    folder = build_release(releases, "1.0.0")
    before = snapshot(folder)
    hub.drop("tag", after=after)

    with pytest.raises(ReleaseError, match="nothing was lost; run the same command again to finish"):
        publish_release(folder, REPO, token=WRITE_TOKEN)
    assert snapshot(folder) == before
    assert release_commits(hub) == ["Release v1.0.0"]

    retry = publish_release(folder, REPO, token=WRITE_TOKEN)

    assert retry.actions == (() if after else ("tag",))
    assert release_commits(hub) == ["Release v1.0.0"]
    assert hub.repo(REPO).tags == {"v1.0.0": hub.repo(REPO).branches["main"]}
    assert retry.commit == hub.repo(REPO).branches["main"]


@pytest.mark.parametrize("after", [False, True], ids=["commit-lost", "response-lost"])
def test_a_dropped_commit_request_is_finished_by_a_retry(hub: FakeHub, releases: Path, after: bool) -> None:
    folder = build_release(releases, "1.0.0")
    before = snapshot(folder)
    hub.drop("commit", after=after)

    with pytest.raises(ReleaseError, match=r"lost while uploading the v1\.0\.0 commit .* nothing was lost"):
        publish_release(folder, REPO, token=WRITE_TOKEN)
    assert snapshot(folder) == before
    assert hub.repo(REPO).tags == {}

    retry = publish_release(folder, REPO, token=WRITE_TOKEN)

    assert retry.actions == (("tag",) if after else ("commit", "tag"))
    assert release_commits(hub) == ["Release v1.0.0"]
    assert hub.repo(REPO).tags == {"v1.0.0": retry.commit}


def test_a_bad_token_gives_one_clear_line_and_leaves_the_release_alone(
    hub: FakeHub, releases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = build_release(releases, "1.0.0")
    before = snapshot(folder)
    monkeypatch.setenv("HF_TOKEN", "hf_revoked-test-token")

    with pytest.raises(ReleaseError) as caught:
        publish_release(folder, REPO)

    message = str(caught.value)
    assert "\n" not in message
    assert "rejected the token in HF_TOKEN (401 Unauthorized)" in message
    assert "hf auth login" in message
    assert hub.writes == []
    assert snapshot(folder) == before


@pytest.mark.parametrize("repo_exists", [False, True], ids=["new-repo", "existing-repo"])
def test_a_token_without_write_permission_is_refused(hub: FakeHub, releases: Path, repo_exists: bool) -> None:
    if repo_exists:
        publish_release(build_release(releases, "1.0.0"), REPO, token=WRITE_TOKEN)
    folder = build_release(releases, "1.1.0")
    before = snapshot(folder)

    with pytest.raises(ReleaseError, match=r"no write permission on 'acme' \(403 Forbidden\)") as caught:
        publish_release(folder, REPO, token=READ_TOKEN)

    assert "\n" not in str(caught.value)
    assert snapshot(folder) == before
    assert "v1.1.0" not in (hub.repo(REPO).tags if repo_exists else {})


def test_no_token_anywhere_says_how_to_get_one(hub: FakeHub, releases: Path) -> None:
    with pytest.raises(ConfigError, match=r"export HF_TOKEN=.* or run `hf auth login`"):
        publish_release(build_release(releases, "1.0.0"), REPO)
    assert hub.requests == []


def test_the_saved_login_is_used_when_hf_token_is_unset(hub: FakeHub, releases: Path) -> None:
    Path(huggingface_hub.constants.HF_TOKEN_PATH).write_text(WRITE_TOKEN)

    result = publish_release(build_release(releases, "1.0.0"), REPO, private=True)

    assert result.actions == ("create_repo", "commit", "tag")
    assert hub.repo(REPO).private


def test_the_token_appears_nowhere(
    hub: FakeHub,
    releases: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    folder = build_release(releases, "1.0.0")
    texts: list[str] = []

    hub.drop("tag")
    with pytest.raises(ReleaseError) as caught:
        publish_release(folder, REPO)
    texts.append(str(caught.value))
    texts += publish_release(folder, REPO, dry_run=True).summary()
    texts += publish_release(folder, REPO).summary()
    with pytest.raises(ReleaseError) as caught:
        publish_release(folder, "someone-else/tiny-embed")
    texts.append(str(caught.value))

    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    assert not [text for text in texts if WRITE_TOKEN in text]
    assert not [path for path, data in snapshot(folder).items() if WRITE_TOKEN.encode() in data]


def test_a_dry_run_sends_nothing_that_writes(hub: FakeHub, releases: Path) -> None:
    folder = build_release(releases, "1.0.0")

    plan = publish_release(folder, REPO, token=WRITE_TOKEN, dry_run=True)

    assert plan.dry_run and plan.remote_checked
    assert plan.actions == ("create_repo", "commit", "tag")
    assert [f.path for f in plan.files] == [
        "README.md", "data/retrieval/test.parquet", "data/retrieval/train.parquet",
        "data/sts/test.parquet", "data/sts/train.parquet", "manifest.json",
    ]  # fmt: skip
    assert sum(f.size for f in plan.files) == sum(len(data) for data in snapshot(folder).values())
    assert hub.writes == [] and hub.repos == {}
    assert any("data/sts/train.parquet" in line for line in plan.summary())


def test_a_dry_run_after_a_failed_tag_says_only_the_tag_is_left(hub: FakeHub, releases: Path) -> None:
    folder = build_release(releases, "1.0.0")
    hub.drop("tag")
    with pytest.raises(ReleaseError):
        publish_release(folder, REPO, token=WRITE_TOKEN)
    writes = len(hub.writes)

    plan = publish_release(folder, REPO, token=WRITE_TOKEN, dry_run=True)

    assert plan.actions == ("tag",)
    assert plan.commit == hub.repo(REPO).branches["main"]
    assert len(hub.writes) == writes


def test_a_dry_run_without_a_token_only_lists_the_files(hub: FakeHub, releases: Path) -> None:
    plan = publish_release(build_release(releases, "1.0.0"), REPO, dry_run=True)

    assert not plan.remote_checked
    assert len(plan.files) == 6
    assert hub.requests == []


def test_a_release_that_failed_validation_is_published_only_when_forced(hub: FakeHub, releases: Path) -> None:
    folder = build_release(releases, "1.0.0", validation={"passed": False, "checks": {"ndcg@10": "below"}})

    with pytest.raises(ReleaseError, match=r"failed validation .* pass --force"):
        publish_release(folder, REPO, token=WRITE_TOKEN)
    assert hub.requests == []

    result = publish_release(folder, REPO, token=WRITE_TOKEN, force=True)

    assert "validation.json" in {f.path for f in result.files}
    assert hub.repo(REPO).tags == {"v1.0.0": result.commit}


def test_a_release_that_passed_validation_is_published(hub: FakeHub, releases: Path) -> None:
    folder = build_release(releases, "1.0.0", validation={"passed": True})
    assert publish_release(folder, REPO, token=WRITE_TOKEN).actions[-1] == "tag"


def test_a_hand_edited_release_is_refused(hub: FakeHub, releases: Path) -> None:
    folder = build_release(releases, "1.0.0")
    path = folder / "data" / "sts" / "train.parquet"
    path.write_bytes(path.read_bytes() + b"\0")

    with pytest.raises(ReleaseError, match=r"data/sts/train\.parquet was changed"):
        publish_release(folder, REPO, token=WRITE_TOKEN)
    assert hub.requests == []
