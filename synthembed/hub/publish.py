"""Publish a release folder to the Hugging Face Hub: one commit of the whole folder, then its version tag.

What happens, in order::

    read the release        manifest.json must match the files on disk; a failed validation.json blocks
    resolve the token       the argument, else HF_TOKEN, else the huggingface_hub login
    read the repo           its refs, and manifest.json at the tag and at the head of main
    decide                  tag exists, same manifest    -> already published, nothing to send
                            tag exists, other manifest   -> refused: a published version is never overwritten
                            main holds this release      -> only the tag (a retry after a failed tag)
                            otherwise                    -> create the repo if needed, commit, tag
    send                    create_repo(exist_ok) ; create_commit (every file, and deletes of files the
                            previous release had and this one lacks) ; create_tag("v" + version)

A retry after any failure is the same command: what landed is recognised by its manifest, so nothing is
committed twice. The release folder is only read. The token goes to the Hub in a header and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils.sha import git_hash

from synthembed import __version__
from synthembed.errors import ConfigError, ReleaseError
from synthembed.hub.release import verify_manifest

#: Files the Hub writes itself when it creates a repo; a release commit leaves them alone.
HUB_OWNED_FILES = frozenset({".gitattributes"})


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release, as it is sent: its path in the repo and its size in bytes."""

    path: str
    size: int


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish_release` did, or with ``dry_run`` would do.

    ``actions`` lists, in order, what was (or would be) sent: ``create_repo``, ``commit``, ``tag``.
    Empty means the version was already on the Hub with the same content. ``remote_checked`` is False
    for a dry run without a token, whose actions then assume nothing about the repo.
    """

    repo_id: str
    tag: str
    commit: str | None
    url: str
    files: tuple[ReleaseFile, ...]
    actions: tuple[str, ...]
    deleted: tuple[str, ...] = ()
    private: bool = False
    dry_run: bool = False
    remote_checked: bool = True

    @property
    def already_published(self) -> bool:
        return not self.actions

    def summary(self) -> list[str]:
        """Lines for a person: what was done (or would be), then the files."""
        would = "would " if self.dry_run else ""
        head = f"{'dry run: ' if self.dry_run else ''}{self.repo_id} {self.tag}"
        if self.already_published:
            lines = [f"{head}: already published with the same content at commit {self.commit}; nothing sent"]
        else:
            lines = [f"{head}:"]
            total = sum(f.size for f in self.files)
            for action in self.actions:
                if action == "create_repo":
                    kind = "private" if self.private else "public"
                    lines.append(
                        f"  {would}create the {kind} dataset repo {self.repo_id} (if it does not exist)"
                    )
                elif action == "commit":
                    gone = (
                        f", delete {len(self.deleted)} file(s) the previous release had"
                        if self.deleted
                        else ""
                    )
                    lines.append(
                        f"  {would}commit 'Release {self.tag}': {len(self.files)} files, {total:,} bytes{gone}"
                    )
                elif action == "tag":
                    at = f" at {self.commit}" if self.commit else ""
                    lines.append(f"  {would}tag {self.tag}{at}")
            if not self.remote_checked:
                lines.append("  (the repo was not read: no token; the real run skips what is already there)")
        lines.append(f"  {self.url}")
        if self.dry_run:
            lines.extend(f"    {f.path}  {f.size:,} B" for f in self.files)
            lines.extend(f"    {path}  (deleted)" for path in self.deleted)
        return lines


@dataclass(frozen=True)
class _Release:
    folder: Path
    name: str
    version: str
    files: tuple[ReleaseFile, ...]
    manifest: bytes

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest).hexdigest()


@dataclass(frozen=True)
class _Remote:
    exists: bool
    tag_commit: str | None = None
    tag_matches: bool = False
    main_commit: str | None = None
    main_matches: bool = False


def publish_release(
    release_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    endpoint: str | None = None,
) -> PublishResult:
    """Publish a release folder as the dataset repo ``repo_id``, tagged ``v<version>``.

    Args:
        release_dir: ``datasets/<name>/releases/<version>/``, with its ``manifest.json``.
        repo_id: ``org/name`` on the Hub; created (public unless ``private``) if it does not exist.
        private: create the repo private. An existing repo keeps its visibility.
        token: a Hub token with write access; default ``HF_TOKEN``, then the ``hf auth login`` token.
        dry_run: send nothing that writes; with a token, read the repo to say exactly what would be sent.
        force: publish even though ``validation.json`` says the release failed validation.
        endpoint: the Hub's URL; default ``HF_ENDPOINT`` or https://huggingface.co.

    Returns:
        A :class:`PublishResult`: the commit, the tag's URL, the files and the actions taken.

    Raises:
        ReleaseError: the folder differs from its manifest, failed validation, the tag exists with other
            content, or the Hub refused or the connection dropped (the message says what to do next).
        ConfigError: no token was found (and this is not a dry run).

    Example::

        result = publish_release("datasets/e5-full/releases/1.0.0", "acme/e5-synthetic")
        print("\\n".join(result.summary()))
    """
    release = _read_release(Path(release_dir), force=force)
    token, token_source = _resolve_token(token)
    if token is None and not dry_run:
        raise ConfigError(
            "No Hugging Face token found: export HF_TOKEN=hf_... (a token with write access, from "
            "https://huggingface.co/settings/tokens) or run `hf auth login`"
        )
    api = HfApi(endpoint=endpoint, token=token, library_name="synthembed", library_version=__version__)
    result = PublishResult(
        repo_id=repo_id,
        tag=release.tag,
        commit=None,
        url=f"{api.endpoint}/datasets/{repo_id}/tree/{release.tag}",
        files=release.files,
        actions=("create_repo", "commit", "tag"),
        private=private,
        dry_run=dry_run,
        remote_checked=token is not None,
    )
    if token is None:  # a dry run that cannot read the repo
        return result

    hub = _Publication(api, repo_id, release, token, token_source)
    remote = hub.read_remote()
    if remote.tag_commit is not None:
        if not remote.tag_matches:
            raise ReleaseError(
                f"{repo_id} already has tag {release.tag} (commit {remote.tag_commit}) with different content: "
                "a published version is never overwritten; cut a new version"
            )
        return replace(result, commit=remote.tag_commit, actions=())
    if remote.main_matches:  # committed before, the tag failed: finish the job
        result = replace(result, commit=remote.main_commit, actions=("tag",))
    elif remote.exists:
        result = replace(result, actions=("commit", "tag"), deleted=hub.stale_files(remote))
    if dry_run:
        return result

    if "create_repo" in result.actions:
        hub.create_repo(private)
    if "commit" in result.actions:
        result = replace(result, commit=hub.commit(remote, result.deleted))
    assert result.commit is not None
    hub.tag(result.commit)
    return result


# ---- the local side


def _read_release(folder: Path, *, force: bool) -> _Release:
    manifest = verify_manifest(folder)
    for key in ("name", "version"):
        if not manifest.get(key):
            raise ReleaseError(
                f"{folder}/manifest.json has no {key!r}; rebuild the release with `synthembed release`"
            )
    validation = folder / "validation.json"
    if validation.exists() and not force:
        report = json.loads(validation.read_text(encoding="utf-8"))
        if report.get("passed") is False:
            raise ReleaseError(
                f"{folder} failed validation (see validation.json), so it is not published: fix the data and cut "
                "a new release, or pass --force to publish it anyway"
            )
    files = [ReleaseFile(path, int(info["bytes"])) for path, info in sorted(manifest["files"].items())]
    raw = (folder / "manifest.json").read_bytes()
    files.append(ReleaseFile("manifest.json", len(raw)))
    return _Release(
        folder, manifest["name"], manifest["version"], tuple(sorted(files, key=lambda f: f.path)), raw
    )


def _resolve_token(token: str | None) -> tuple[str | None, str]:
    """The token and, for error messages, where it came from (never the token itself)."""
    if token:
        return token, "the token passed in"
    found = get_token()
    if found is None:
        return None, "no token"
    if found == (os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")):
        return found, "the token in HF_TOKEN"
    return found, "your saved Hugging Face login"


# ---- the Hub side


class _Publication:
    """The Hub calls of one publication, each turning the Hub's failures into a one-line ReleaseError."""

    def __init__(self, api: HfApi, repo_id: str, release: _Release, token: str, token_source: str) -> None:
        self.api, self.repo_id, self.release = api, repo_id, release
        self._token, self._token_source = token, token_source

    def read_remote(self) -> _Remote:
        with self._explained("reading the repo"):
            try:
                refs = self.api.list_repo_refs(self.repo_id, repo_type="dataset")
            except RepositoryNotFoundError:
                return _Remote(exists=False)
            tags = {ref.name: ref.target_commit for ref in refs.tags}
            main = next((ref.target_commit for ref in refs.branches if ref.name == "main"), None)
            tag_commit = tags.get(self.release.tag)
            return _Remote(
                exists=True,
                tag_commit=tag_commit,
                tag_matches=tag_commit is not None and self._holds_release(tag_commit),
                main_commit=main,
                main_matches=main is not None and self._holds_release(main),
            )

    def _holds_release(self, commit: str) -> bool:
        """Whether ``commit`` has this release's manifest.json (whose hashes pin every other file)."""
        infos = self.api.get_paths_info(self.repo_id, ["manifest.json"], revision=commit, repo_type="dataset")
        remote = next((info for info in infos if isinstance(info, RepoFile)), None)
        if remote is None:
            return False
        if remote.lfs is not None:
            return remote.lfs.sha256 == self.release.manifest_sha256
        return remote.blob_id == git_hash(self.release.manifest)

    def stale_files(self, remote: _Remote) -> tuple[str, ...]:
        """Files at the head of main that this release lacks: the commit deletes them."""
        if remote.main_commit is None:
            return ()
        with self._explained("reading the repo"):
            there = self.api.list_repo_files(self.repo_id, repo_type="dataset", revision=remote.main_commit)
        ours = {f.path for f in self.release.files}
        return tuple(sorted(set(there) - ours - HUB_OWNED_FILES))

    def create_repo(self, private: bool) -> None:
        with self._explained("creating the repo"):
            self.api.create_repo(self.repo_id, repo_type="dataset", private=private, exist_ok=True)

    def commit(self, remote: _Remote, deleted: tuple[str, ...]) -> str:
        release = self.release
        operations: list[CommitOperationAdd | CommitOperationDelete] = [
            CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(release.folder / f.path))
            for f in release.files
        ]
        operations += [CommitOperationDelete(path_in_repo=path) for path in deleted]
        description = (
            f"{release.name} {release.version}, published by synthembed {__version__}.\n\n"
            f"manifest.json sha256: {release.manifest_sha256}\n"
        )
        with self._explained(f"uploading the {release.tag} commit"):
            info = self.api.create_commit(
                self.repo_id,
                operations,
                commit_message=f"Release {release.tag}",
                commit_description=description,
                repo_type="dataset",
                parent_commit=remote.main_commit,
            )
        return info.oid

    def tag(self, commit: str) -> None:
        with self._explained(f"tagging {self.release.tag} (the commit {commit} is on the Hub)"):
            self.api.create_tag(
                self.repo_id,
                tag=self.release.tag,
                revision=commit,
                tag_message=f"{self.release.name} {self.release.version}",
                repo_type="dataset",
            )

    @contextmanager
    def _explained(self, step: str) -> Iterator[None]:
        try:
            yield
        except OfflineModeIsEnabled as exc:
            raise ReleaseError(
                "HF_HUB_OFFLINE is set, so nothing can be published: unset it and run the same command again"
            ) from exc
        except HfHubHTTPError as exc:
            raise ReleaseError(self._scrub(self._http_error_line(exc, step))) from exc
        except httpx2.TransportError as exc:
            raise ReleaseError(
                f"The connection to the Hub ({self.api.endpoint}) was lost while {step} ({type(exc).__name__}): "
                "nothing was lost; run the same command again to finish"
            ) from exc

    def _http_error_line(self, exc: HfHubHTTPError, step: str) -> str:
        status = exc.response.status_code if exc.response is not None else None
        namespace = self.repo_id.split("/", 1)[0]
        if status == 401:
            return (
                f"The Hub rejected {self._token_source} (401 Unauthorized) while {step}: it is invalid or "
                "expired; create one with write access at https://huggingface.co/settings/tokens and export "
                "HF_TOKEN=..., or run `hf auth login`"
            )
        if status == 403:
            return (
                f"{self._token_source.capitalize()} has no write permission on {namespace!r} (403 Forbidden) while "
                f"{step}: use a token with write access to {namespace!r}, or publish to a repo under your own name"
            )
        if status == 404:
            return (
                f"Repository {self.repo_id} was not found, or {self._token_source} cannot see it (404) while "
                f"{step}: check the name and the token's access"
            )
        if status == 412:
            return f"Someone committed to {self.repo_id} while {step}: run the same command again"
        detail = exc.server_message or str(exc).splitlines()[0]
        return f"The Hub answered {status} while {step}: {detail}; run the same command again later"

    def _scrub(self, text: str) -> str:
        # A server echoing the Authorization header must not put the token on the terminal.
        return text.replace(self._token, "hf_***") if self._token else text
