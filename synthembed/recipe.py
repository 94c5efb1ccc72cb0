"""The recipe: one YAML file that describes a dataset, validated by a strict pydantic schema.

``datasets/<name>/recipe.yaml`` says what to generate (task types and counts, languages), with which
provider and model, within which budget, and how the later stages (quality, release, validation)
behave. Unknown keys are errors, so a typo never silently falls back to a default.

Example::

    recipe = load_recipe("datasets/quickstart/recipe.yaml")
    recipe.examples.retrieval  # -> 12
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthembed.errors import RecipeError
from synthembed.gen.languages import LANGUAGE_BY_CODE, SCHEMES
from synthembed.gen.prompts import TEMPLATES
from synthembed.gen.taxonomy import TASK_TYPE_NAMES, TASK_TYPES
from synthembed.quality.config import QualityConfig

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """Dollars per million tokens; overrides the package's price table for this recipe."""

    input_per_mtok: float = Field(ge=0, description="dollars per 1M input tokens")
    output_per_mtok: float = Field(ge=0, description="dollars per 1M output tokens")
    cached_input_per_mtok: float | None = Field(
        default=None, ge=0, description="dollars per 1M cached input tokens (default: the input price)"
    )
    cache_write_per_mtok: float | None = Field(
        default=None, ge=0, description="dollars per 1M tokens written to the prompt cache (default: input)"
    )
    batch_discount: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="price factor of the batch API (default: 0.5 for openai/anthropic)",
    )


class _ProviderBase(_Strict):
    model: str = Field(description="model name as the provider spells it")
    concurrency: int = Field(default=16, ge=1, le=4096, description="most requests in flight at once")
    requests_per_minute: float | None = Field(default=None, gt=0, description="request rate limit")
    tokens_per_minute: float | None = Field(
        default=None, gt=0, description="combined input+output token rate limit (OpenAI style)"
    )
    input_tokens_per_minute: float | None = Field(default=None, gt=0, description="input token limit")
    output_tokens_per_minute: float | None = Field(default=None, gt=0, description="output token limit")
    max_output_tokens: int = Field(default=2048, ge=16, le=65536, description="output cap per example")
    temperature: float = Field(default=1.0, ge=0, le=2, description="sampling temperature (paper: 1.0)")
    top_p: float = Field(default=1.0, gt=0, le=1, description="nucleus sampling (paper: 1.0)")
    timeout_s: float = Field(default=120.0, gt=0, description="seconds before a request is abandoned")
    max_retries: int = Field(default=8, ge=0, le=100, description="retries of a retryable failure")
    price: Price | None = Field(default=None, description="override of the price table")


class BatchSettings(_Strict):
    """How `mode: batch` submits and collects (OpenAI Batches, Anthropic Message Batches)."""

    max_requests: int | None = Field(
        default=None, ge=1, description="requests per batch (default: the provider's limit, 50k / 100k)"
    )
    poll_interval_s: float = Field(default=30.0, gt=0, description="seconds between status checks")


class _PaidProvider(_ProviderBase):
    mode: Literal["online", "batch"] = Field(
        default="online",
        description="openai/anthropic only. online: requests one by one; batch: the batch API at its discount",
    )
    prompt_cache: bool = Field(
        default=True,
        description="mark the prompts' fixed prefix for caching (Anthropic) / route by it (OpenAI)",
    )
    batch: BatchSettings = Field(default_factory=BatchSettings, description="settings of mode batch")


class OpenAIProvider(_PaidProvider):
    """OpenAI's API; key from OPENAI_API_KEY (or ``api_key_env``)."""

    kind: Literal["openai"]
    base_url: str | None = Field(default=None, description="API base URL (default: OpenAI's)")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="environment variable with the key")


class AnthropicProvider(_PaidProvider):
    """Anthropic's API; key from ANTHROPIC_API_KEY (or ``api_key_env``)."""

    kind: Literal["anthropic"]
    base_url: str | None = Field(default=None, description="API base URL (default: Anthropic's)")
    api_key_env: str = Field(default="ANTHROPIC_API_KEY", description="environment variable with the key")


class OpenAICompatibleProvider(_ProviderBase):
    """Any server with an OpenAI-style API (vLLM, Ollama, llama.cpp, hosted services)."""

    kind: Literal["openai-compatible"]
    base_url: str = Field(description="the server's API base URL, such as http://localhost:8000/v1")
    api_key_env: str | None = Field(
        default=None, description="environment variable with the key (none needed when unset)"
    )


class LocalProvider(_ProviderBase):
    """The embedded SmolLM2-135M-Instruct, run in-process on the CPU: no key, no network."""

    kind: Literal["local"]
    model: str = Field(default="SmolLM2-135M-Instruct", description="the embedded model")
    concurrency: int = Field(default=8, ge=1, le=64, description="requests batched into one generate")
    max_output_tokens: int = Field(default=256, ge=16, le=4096, description="output cap per example")


ProviderConfig = Annotated[
    OpenAIProvider | AnthropicProvider | OpenAICompatibleProvider | LocalProvider,
    Field(discriminator="kind"),
]
PROVIDER_KINDS = ("openai", "anthropic", "openai-compatible", "local")


class Budget(_Strict):
    """A hard cap: nothing is sent that could take spend past it. Either or both may be set."""

    dollars: float | None = Field(default=None, gt=0, description="cap on spend in US dollars")
    tokens: int | None = Field(default=None, gt=0, description="cap on input+output tokens")


class Examples(_Strict):
    """How many examples to generate per task type (the paper: 167k, 122k, 17k, 13k, 99k, 89k)."""

    retrieval: int = Field(default=0, ge=0, description="retrieval examples (paper: 167k)")
    classification: int = Field(default=0, ge=0, description="classification examples (paper: 122k)")
    short_short: int = Field(default=0, ge=0, description="short_short examples (paper: 13k)")
    long_long: int = Field(default=0, ge=0, description="long_long examples (paper: 17k)")
    sts: int = Field(default=0, ge=0, description="sts examples (paper: 99k)")
    bitext: int = Field(default=0, ge=0, description="bitext examples (paper: 89k)")

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in TASK_TYPE_NAMES}

    @model_validator(mode="after")
    def _some(self) -> Examples:
        if not any(self.counts().values()):
            raise ValueError("ask for at least one example of some task type")
        return self


class Brainstorm(_Strict):
    """The first step for retrieval, classification, short_short and long_long."""

    tasks_per_request: int = Field(default=20, ge=1, le=200, description="task definitions asked for")
    examples_per_task: float = Field(
        default=2.0, gt=0, description="examples planned per brainstormed task (paper: ~3.3 per unique task)"
    )
    max_output_tokens: int = Field(default=1500, ge=16, le=65536, description="output cap per brainstorm")
    max_task_words: int = Field(default=60, ge=3, description="longer task definitions are dropped")


class Generation(_Strict):
    """Choices of the generate step."""

    templates: dict[str, list[str]] = Field(
        default_factory=dict, description="task type -> template names to draw among (default: all)"
    )
    max_reasks: int = Field(
        default=1, ge=0, le=5, description="times a response that fails to parse is asked again"
    )

    @field_validator("templates")
    @classmethod
    def _known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for task_type, names in value.items():
            if task_type not in TASK_TYPES:
                raise ValueError(f"unknown task type {task_type!r}; allowed: {', '.join(TASK_TYPE_NAMES)}")
            known = [t.name for t in TEMPLATES[(task_type, "generate")]]
            for name in names:
                if name not in known:
                    raise ValueError(
                        f"unknown template {name!r} for {task_type}; allowed: {', '.join(known)}"
                    )
        return value


class Languages(_Strict):
    """Which languages, how often, and how bitext pairs them."""

    scheme: Literal["e5", "cc100", "explicit"] = Field(
        default="e5", description="e5: the paper's mix; cc100: CC-100 size ** alpha; explicit: weights"
    )
    include: list[str] | None = Field(
        default=None, description="restrict e5/cc100 to these codes (weights renormalised)"
    )
    weights: dict[str, float] | None = Field(default=None, description="code -> weight (scheme explicit)")
    alpha: float = Field(default=0.3, gt=0, le=1, description="exponent of the cc100 scheme (XLM-R: 0.3)")
    tail: Literal["uniform", "cc100"] = Field(
        default="uniform", description="how the e5 scheme splits 19.8% among the other languages"
    )
    bitext_pairing: Literal["independent", "english_pivot"] = Field(
        default="independent", description="how bitext draws its two different languages"
    )

    @field_validator("include")
    @classmethod
    def _codes(cls, value: list[str] | None) -> list[str] | None:
        for code in value or []:
            _check_code(code)
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for code, w in (value or {}).items():
            _check_code(code)
            if w < 0:
                raise ValueError(f"weight of {code!r} is negative; weights must be >= 0")
        if value is not None and sum(value.values()) <= 0:
            raise ValueError("weights must sum to more than zero")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Languages:
        if self.scheme == "explicit" and not self.weights:
            raise ValueError("scheme 'explicit' needs 'weights' (language code -> weight)")
        if self.scheme != "explicit" and self.weights:
            raise ValueError(f"'weights' is only for scheme 'explicit', not {self.scheme!r}")
        return self


def _check_code(code: str) -> None:
    if code not in LANGUAGE_BY_CODE:
        close = difflib.get_close_matches(code, list(LANGUAGE_BY_CODE), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"unknown language code {code!r}{hint}; allowed: the 93 XLM-R codes, e.g. en, de, zh"
        )


class Release(_Strict):
    """How releases of this dataset are cut and described."""

    license: str = Field(default="apache-2.0", description="license id for the card")
    pretty_name: str | None = Field(default=None, description="display name (default: the recipe name)")
    test_fraction: float = Field(
        default=0.1, ge=0, lt=1, description="share of task definitions held out for the test split"
    )
    tags: list[str] = Field(default_factory=list, description="extra tags for the card")


class Benchmark(_Strict):
    """A BEIR-layout folder to evaluate on (corpus.jsonl, queries.jsonl, qrels/test.tsv)."""

    path: str
    instruction: str = Field(description="the task definition put before each query")
    name: str | None = None


class Validation(_Strict):
    """Fine-tune on a release and evaluate before and after."""

    model: str = Field(
        default="all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (embedded, CPU) or a local path to a model folder",
    )
    architecture: Literal["encoder", "decoder"] = Field(
        default="encoder", description="encoder (mean pooling) or decoder (EOS + last-token pooling, LoRA)"
    )
    batch_size: int = Field(default=32, ge=2, description="examples per step (paper: 2048)")
    mini_batch_size: int = Field(default=32, ge=1, description="chunk size of the cached loss")
    max_steps: int | None = Field(default=None, ge=1, description="stop after this many steps")
    epochs: float = Field(default=1.0, gt=0, description="passes over the train split (paper: 1)")
    learning_rate: float = Field(default=1e-4, gt=0, description="paper: 1e-4")
    warmup_steps: int = Field(default=100, ge=0, description="paper: 100")
    weight_decay: float = Field(default=0.1, ge=0, description="paper: 0.1")
    temperature: float = Field(default=0.02, gt=0, description="InfoNCE temperature (paper: 0.02)")
    max_length: int = Field(default=512, ge=8, description="tokens per text (paper: 512)")
    max_train_examples: int | None = Field(default=None, ge=1, description="cap on train examples")
    tolerance: float = Field(default=0.01, ge=0, description="allowed drop against the previous release")
    benchmarks: list[Benchmark] = Field(default_factory=list)


class Recipe(_Strict):
    """A whole dataset recipe. See README.md, "Recipe reference", for every field."""

    name: str = Field(description="dataset name: lowercase letters, digits, '.', '_', '-'")
    version: str = Field(description="the release version this recipe makes (semver, e.g. 1.0.0)")
    seed: int = Field(default=0, ge=0, description="seed of every random draw in the plan")
    description: str = Field(default="", description="one paragraph for the dataset card")
    provider: ProviderConfig
    budget: Budget = Field(default_factory=Budget)
    examples: Examples
    brainstorm: Brainstorm = Field(default_factory=Brainstorm)
    generation: Generation = Field(default_factory=Generation)
    languages: Languages = Field(default_factory=Languages)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    release: Release = Field(default_factory=Release)
    validation: Validation = Field(default_factory=Validation)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use lowercase letters, digits, '.', '_' or '-' (at most 64), starting alnum")
        return value

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not _SEMVER.match(value):
            raise ValueError(f"{value!r} is not a semantic version such as 1.0.0")
        return value

    @model_validator(mode="after")
    def _languages_fit(self) -> Recipe:
        if self.examples.bitext:
            n = len(self.languages.weights or self.languages.include or LANGUAGE_BY_CODE)
            if n < 2:
                raise ValueError("languages: bitext needs at least two languages")
        return self

    def content_hash(self) -> str:
        """Hash of everything that decides which requests are made (not budget or concurrency)."""
        data = self.model_dump(
            mode="json", include={"seed", "examples", "brainstorm", "generation", "languages"}
        )
        data["model"] = self.provider.model
        data["sampling"] = [self.provider.temperature, self.provider.top_p, self.provider.max_output_tokens]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


assert set(SCHEMES) == set(get_args(Languages.model_fields["scheme"].annotation))


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by walking ``loc`` from :class:`Recipe` (for 'allowed' hints)."""
    model: Any = Recipe
    for part in loc:
        if get_origin(model) in (list, dict):
            model = get_args(model)[-1]
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


_PROVIDER_BY_KIND = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "openai-compatible": OpenAICompatibleProvider,
    "local": LocalProvider,
}


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) not in (list, dict) and len(args) == 1:
        return args[0]
    return annotation


def _format_error(path: Path, raw: dict[str, Any], err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    # discriminated unions insert the tag into loc ("provider", "openai", "model"): drop it
    if len(loc) >= 2 and loc[0] == "provider" and loc[1] in _PROVIDER_BY_KIND:
        parent: Any = _PROVIDER_BY_KIND[loc[1]]
        loc = (loc[0], *loc[2:])
        sub = loc[1:]
    else:
        parent = None
        sub = loc
    field = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        owner = parent if parent is not None and len(sub) == 1 else _model_at(loc[:-1])
        if parent is not None and len(sub) > 1:
            owner = None
        allowed = sorted(owner.model_fields) if owner is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{path}: {field}: unknown field{hint}; allowed fields: {', '.join(allowed)}"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"{path}: {field}.kind: must be one of: {', '.join(PROVIDER_KINDS)}"
    if kind == "missing":
        return f"{path}: {field}: required field is missing"
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{path}: {field}: {msg}{shown}"


def parse_recipe(data: Any, path: str | Path = "<recipe>") -> Recipe:
    """Validate already-loaded recipe data.

    Raises:
        RecipeError: one message naming the file and each wrong field, with the allowed values.
    """
    path = Path(path)
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of fields (name, version, provider, ...)")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(path, data, e) for e in exc.errors()]
        raise RecipeError("\n".join(dict.fromkeys(lines))) from None


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file.

    Raises:
        RecipeError: the file is missing, is not YAML, or fails validation (names file and field).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "recipe.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file; pass datasets/<name>/recipe.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read the recipe: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_recipe(data, path)


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is Annotated:
        return _type_name(args[0])
    if args and origin not in (list, dict):  # a union
        return " or ".join(_type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__} of " + ", ".join(_type_name(a) for a in args) if args else origin.__name__
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("NoneType", "None")


def _default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(section)"
        return repr(value)
    return "None" if field.default is None else repr(field.default)


def _reference_rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        inner = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            rows.append((path, "section", _default_text(field), (inner.__doc__ or "").strip().split("\n")[0]))
            rows.extend(_reference_rows(inner, path + "."))
            continue
        if (
            get_origin(inner) is list
            and get_args(inner)
            and isinstance(get_args(inner)[0], type)
            and issubclass(get_args(inner)[0], BaseModel)
        ):
            item = get_args(inner)[0]
            rows.append(
                (path, f"list of {item.__name__}", _default_text(field), (item.__doc__ or "").strip())
            )
            rows.extend(_reference_rows(item, path + "[]."))
            continue
        kind = _type_name(field.annotation)
        rows.append((path, kind, _default_text(field), field.description or ""))
    return rows


def recipe_reference() -> str:
    """The recipe reference as a markdown table, generated from the schema (kept in README.md)."""
    lines = ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    top = [(n, f) for n, f in Recipe.model_fields.items()]
    for name, field in top:
        if name == "provider":
            lines.append(
                f"| `provider` | section | required | which LLM; `kind` picks one of: {', '.join(PROVIDER_KINDS)} |"
            )
            seen: set[str] = set()
            for model in _PROVIDER_BY_KIND.values():
                for path, typ, default, doc in _reference_rows(model, "provider."):
                    if path == "provider.kind" or path in seen:
                        continue
                    seen.add(path)
                    note = ""
                    if path in ("provider.base_url", "provider.api_key_env", "provider.model"):
                        note = " (default depends on kind: see below)"
                    lines.append(f"| `{path}` | {typ} | {default}{note} | {doc} |")
            continue
        inner = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            lines.append(
                f"| `{name}` | section | {_default_text(field)} | {(inner.__doc__ or '').strip().splitlines()[0]} |"
            )
            for path, typ, default, doc in _reference_rows(inner, name + "."):
                lines.append(f"| `{path}` | {typ} | {default} | {doc} |")
        else:
            lines.append(
                f"| `{name}` | {_type_name(field.annotation)} | {_default_text(field)} | {field.description or ''} |"
            )
    lines.append("")
    lines.append("Provider defaults by kind:")
    lines.append("")
    for kind, model in _PROVIDER_BY_KIND.items():
        f = model.model_fields
        parts = [
            f"model {_default_text(f['model'])}",
            f"concurrency {_default_text(f['concurrency'])}",
            f"max_output_tokens {_default_text(f['max_output_tokens'])}",
        ]
        if "api_key_env" in f:
            parts.append(f"key from {_default_text(f['api_key_env'])}")
        if "base_url" in f:
            parts.append(f"base_url {_default_text(f['base_url'])}")
        lines.append(f"- `{kind}`: {', '.join(parts)}.")
    return "\n".join(" ".join(line.split()) for line in lines) + "\n"
