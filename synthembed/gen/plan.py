"""Planning: expand a recipe into deterministic request specs, with token and cost estimates.

Pure and offline. Every random draw comes from a numpy generator seeded by (recipe seed, task type,
step, placeholder), so:

- the same recipe gives the same specs and the same request ids, on any machine;
- growing a count keeps the earlier requests unchanged (the draws are prefix-stable);
- changing a template's text changes its id and so the ids of the requests that use it.

Draws are kept as index arrays per (task type, step) group; :class:`RequestSpec` objects are built
lazily, so a 500k-example plan is a few megabytes.

Example::

    plan = build_plan(load_recipe("datasets/quickstart/recipe.yaml"))
    for spec in plan.specs("brainstorm"):
        messages = spec.render()
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthembed.gen import languages as langs
from synthembed.gen.pricing import MICRO, ModelPrice, resolve_price
from synthembed.gen.prompts import PromptTemplate, templates_for
from synthembed.gen.taxonomy import LONG_LONG_MIN_WORDS, TASK_TYPE_NAMES, TASK_TYPES
from synthembed.gen.tokens import TokenCounter
from synthembed.recipe import Recipe

#: Assumed length of a brainstormed task definition in the generate prompt, in o200k tokens.
TASK_TOKENS_ESTIMATE = 25

#: Output-length model: words the request asks for, by placeholder value. "at least N" asks for a bit
#: more than N; these numbers are estimates for cost planning, not promises about any model.
_QUERY_WORDS = {"less than 5 words": 4, "5 to 15 words": 10, "at least 10 words": 14}
_CLASSIFICATION_WORDS = {
    "less than 10": 8,
    "at least 10": 18,
    "at least 50": 65,
    "at least 100": 125,
    "at least 200": 240,
}
_UNIT_WORDS = {"sentence": 18, "phrase": 5, "passage": 70}
_BRAINSTORM_WORDS_PER_TASK = 22
_JSON_TOKENS_PER_FIELD = 5

#: Tokens per word by writing system, for output estimates (o200k on typical prose).
_TOKENS_PER_WORD_DEFAULT = 2.0
_TOKENS_PER_WORD = {"en": 1.35}
for _code in [
    "de",
    "fr",
    "es",
    "pt",
    "it",
    "nl",
    "pl",
    "sv",
    "da",
    "no",
    "fi",
    "ro",
    "hu",
    "cs",
    "sk",
    "sl",
    "hr",
    "bs",
    "sq",
    "et",
    "lv",
    "lt",
    "ca",
    "gl",
    "eu",
    "id",
    "ms",
    "tl",
    "af",
    "sw",
    "so",
    "ha",
    "jv",
    "su",
    "mg",
    "om",
    "xh",
    "eo",
    "la",
    "cy",
    "ga",
    "gd",
    "br",
    "fy",
    "is",
    "az",
    "uz",
    "tr",
    "vi",
    "ku",
]:
    _TOKENS_PER_WORD[_code] = 1.9
for _code in ["ru", "uk", "bg", "be", "mk", "sr", "kk", "ky", "mn", "el", "hy", "ka"]:
    _TOKENS_PER_WORD[_code] = 2.4
for _code in ["ar", "fa", "ur", "ps", "sd", "ug", "he", "yi"]:
    _TOKENS_PER_WORD[_code] = 2.2
for _code in [
    "hi",
    "mr",
    "ne",
    "sa",
    "bn",
    "as",
    "or",
    "pa",
    "gu",
    "ta",
    "te",
    "kn",
    "ml",
    "si",
    "th",
    "lo",
    "km",
    "my",
    "am",
]:
    _TOKENS_PER_WORD[_code] = 3.2
for _code in ["zh", "ja", "ko"]:
    _TOKENS_PER_WORD[_code] = 1.8  # per word-equivalent of text


def _seed_for(seed: int, *parts: str) -> list[int]:
    """A numpy seed sequence from the recipe seed and names (stable across Python runs)."""
    return [seed, *(zlib.crc32(p.encode()) for p in parts)]


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One planned request.

    Attributes:
        id: stable id from the spec's content (for generate steps of brainstormed task types the
            stored request id also includes the task drawn at run time; see :meth:`request_id`).
        step: ``brainstorm`` or ``generate``.
        task_type: one of the six task types.
        index: position within its (task type, step) group.
        template: the prompt template.
        language: language code; ``src-tgt`` for bitext; brainstorms are written in English.
        values: the placeholder values drawn for this request (language names included).
        max_tokens: the output cap sent with the request.
        est_input_tokens, est_output_tokens: estimates for planning and budget reservation.
    """

    id: str
    step: str
    task_type: str
    index: int
    template: PromptTemplate
    language: str
    values: Mapping[str, str]
    max_tokens: int
    est_input_tokens: int
    est_output_tokens: int

    @property
    def needs_task(self) -> bool:
        """True for generate requests that take a brainstormed task definition."""
        return self.step == "generate" and TASK_TYPES[self.task_type].has_brainstorm

    def render(self, task: str | None = None) -> tuple[dict[str, str], ...]:
        """The chat messages of this request (``task`` is required when :attr:`needs_task`)."""
        values = dict(self.values)
        if self.needs_task:
            if not task:
                raise ValueError(f"request {self.id} ({self.task_type}) needs a task definition")
            values["task"] = task
        return ({"role": "user", "content": self.template.render(values)},)

    def request_id(self, task: str | None = None) -> str:
        """The id under which the request is stored: the spec id, plus the task when it has one."""
        if not self.needs_task:
            return self.id
        return hashlib.sha256(f"{self.id}\x1f{task}".encode()).hexdigest()[:24]


@dataclass
class PlanGroup:
    """The requests of one (task type, step), as index arrays into value sets."""

    task_type: str
    step: str
    count: int
    max_tokens: int
    templates: tuple[PromptTemplate, ...]
    template_idx: np.ndarray
    values: dict[str, tuple[tuple[str, ...], np.ndarray]]
    lang_codes: tuple[str, ...]
    lang_idx: np.ndarray | None = None
    src_idx: np.ndarray | None = None
    tgt_idx: np.ndarray | None = None
    fixed_values: dict[str, str] = field(default_factory=dict)
    est_input: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    est_output: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    id_salt: str = ""

    def language_at(self, i: int) -> str:
        if self.src_idx is not None and self.tgt_idx is not None:
            return f"{self.lang_codes[self.src_idx[i]]}-{self.lang_codes[self.tgt_idx[i]]}"
        if self.lang_idx is not None:
            return self.lang_codes[self.lang_idx[i]]
        return "en"

    def language_counts(self) -> dict[str, int]:
        """Requests per language (bitext counts each side once)."""
        arrays = [a for a in (self.lang_idx, self.src_idx, self.tgt_idx) if a is not None]
        counts: dict[str, int] = {}
        for arr in arrays:
            for code_i, n in zip(*np.unique(arr, return_counts=True), strict=True):
                code = self.lang_codes[code_i]
                counts[code] = counts.get(code, 0) + int(n)
        if not arrays:
            counts["en"] = self.count
        return counts

    def spec(self, i: int) -> RequestSpec:
        if not 0 <= i < self.count:
            raise IndexError(i)
        return next(self._specs(i, i + 1))

    def __iter__(self) -> Iterator[RequestSpec]:
        return self._specs(0, self.count)

    def _specs(self, start: int, stop: int) -> Iterator[RequestSpec]:
        # Column-wise: turn the index arrays into Python lists once, then build specs row by row.
        names = {c: langs.LANGUAGE_BY_CODE[c].name for c in self.lang_codes}
        columns = {
            name: [choices[j] for j in idx[start:stop].tolist()]
            for name, (choices, idx) in self.values.items()
        }
        if self.src_idx is not None and self.tgt_idx is not None:
            src = [self.lang_codes[j] for j in self.src_idx[start:stop].tolist()]
            tgt = [self.lang_codes[j] for j in self.tgt_idx[start:stop].tolist()]
            languages = [f"{a}-{b}" for a, b in zip(src, tgt, strict=True)]
            columns["src_lang"] = [names[c] for c in src]
            columns["tgt_lang"] = [names[c] for c in tgt]
        elif self.lang_idx is not None:
            languages = [self.lang_codes[j] for j in self.lang_idx[start:stop].tolist()]
            columns["language"] = [names[c] for c in languages]
        else:
            languages = ["en"] * (stop - start)
        keys = sorted([*self.fixed_values, *columns])
        templates = [self.templates[j] for j in self.template_idx[start:stop].tolist()]
        est_in = self.est_input[start:stop].tolist()
        est_out = self.est_output[start:stop].tolist()
        prefix = f"{self.id_salt}\x1e{self.step}\x1e{self.task_type}\x1e"
        for row in range(stop - start):
            i = start + row
            values = dict(self.fixed_values)
            for name, column in columns.items():
                values[name] = column[row]
            template = templates[row]
            language = languages[row]
            key = prefix + "\x1e".join([str(i), template.id, language, *(f"{k}={values[k]}" for k in keys)])
            yield RequestSpec(
                id=hashlib.sha256(key.encode()).hexdigest()[:24],
                step=self.step,
                task_type=self.task_type,
                index=i,
                template=template,
                language=language,
                values=values,
                max_tokens=self.max_tokens,
                est_input_tokens=est_in[row],
                est_output_tokens=est_out[row],
            )


@dataclass
class Plan:
    """Every request a recipe makes, grouped by (task type, step); brainstorm groups come first."""

    recipe: Recipe
    groups: list[PlanGroup]
    price: ModelPrice | None
    counter: TokenCounter | None

    def specs(self, step: str | None = None, task_type: str | None = None) -> Iterator[RequestSpec]:
        """All specs, in plan order, optionally of one step and/or task type."""
        for g in self.groups:
            if (step is None or g.step == step) and (task_type is None or g.task_type == task_type):
                yield from g

    def group(self, task_type: str, step: str) -> PlanGroup | None:
        return next((g for g in self.groups if g.task_type == task_type and g.step == step), None)

    @property
    def total_requests(self) -> int:
        return sum(g.count for g in self.groups)

    def caching(self) -> dict[str, Any]:
        """Prompt-caching estimate (see :func:`_caching`)."""
        return _caching(self)

    def summary(self, top_languages: int = 15) -> dict[str, Any]:
        """Machine-readable plan summary (what ``synthembed plan --json`` prints)."""
        r = self.recipe
        by_group = []
        in_total = out_total = worst_out = 0
        for g in self.groups:
            ins, outs = int(g.est_input.sum()), int(g.est_output.sum())
            in_total += ins
            out_total += outs
            worst_out += g.count * g.max_tokens
            by_group.append(
                {
                    "task_type": g.task_type,
                    "step": g.step,
                    "requests": g.count,
                    "examples": g.count if g.step == "generate" else 0,
                    "est_input_tokens": ins,
                    "est_output_tokens": outs,
                    "max_tokens": g.max_tokens,
                    "templates": [t.id for t in g.templates],
                }
            )
        lang_counts: dict[str, int] = {}
        for g in self.groups:
            if g.step == "generate":
                for code, n in g.language_counts().items():
                    lang_counts[code] = lang_counts.get(code, 0) + n
        total_lang = sum(lang_counts.values()) or 1
        ranked = sorted(lang_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        top = [{"code": c, "requests": n, "share": n / total_lang} for c, n in ranked[:top_languages]]
        tail = ranked[top_languages:]
        caching = self.caching()
        mode = getattr(r.provider, "mode", "online")
        modes = []
        estimate = worst = None
        if self.price is not None:
            # the worst case pays every input token at the cache-write price where a prefix is marked
            marked = caching["marked"] > 0
            for batch in (False, True):
                if batch and self.price.batch_discount >= 1.0:
                    continue
                plain = self.price.cost_micros(in_total, out_total, batch=batch) / MICRO
                cached = (
                    self.price.cost_micros(
                        in_total,
                        out_total,
                        caching["est_cached_input_tokens"],
                        caching["est_cache_write_tokens"],
                        batch=batch,
                    )
                    / MICRO
                )
                written = in_total if marked else 0
                bound = self.price.cost_micros(in_total, worst_out, 0, written, batch=batch) / MICRO
                modes.append(
                    {
                        "mode": "batch" if batch else "online",
                        "estimate_dollars": plain,
                        "estimate_with_caching_dollars": cached,
                        "worst_case_dollars": bound,
                        "chosen": (mode == "batch") == batch,
                    }
                )
            chosen = next(m for m in modes if m["chosen"]) if any(m["chosen"] for m in modes) else modes[0]
            estimate = chosen["estimate_with_caching_dollars"]
            worst = chosen["worst_case_dollars"]
        budget = r.budget
        covers: dict[str, Any] = {"dollars": budget.dollars, "tokens": budget.tokens}
        if budget.dollars is not None and estimate is not None:
            covers["covers_estimate_dollars"] = estimate <= budget.dollars
            covers["covers_worst_case_dollars"] = worst is not None and worst <= budget.dollars
        if budget.tokens is not None:
            covers["covers_estimate_tokens"] = in_total + out_total <= budget.tokens
            covers["covers_worst_case_tokens"] = in_total + worst_out <= budget.tokens
        covers["uncapped"] = budget.dollars is None and budget.tokens is None
        return {
            "recipe": {
                "name": r.name,
                "version": r.version,
                "seed": r.seed,
                "content_hash": r.content_hash(),
            },
            "provider": {"kind": r.provider.kind, "model": r.provider.model},
            "requests": self.total_requests,
            "examples": sum(g.count for g in self.groups if g.step == "generate"),
            "groups": by_group,
            "languages": {
                "scheme": r.languages.scheme,
                "count": len(lang_counts),
                "top": top,
                "tail": {
                    "languages": len(tail),
                    "requests": sum(n for _, n in tail),
                    "share": sum(n for _, n in tail) / total_lang,
                },
            },
            "tokens": {
                "est_input": in_total,
                "est_output": out_total,
                "worst_case_output": worst_out,
                "counting": self.counter.describe() if self.counter else {"method": "not counted"},
            },
            "cost": {
                "price": None if self.price is None else self.price.describe(),
                "mode": mode,
                "estimate_dollars": estimate,
                "worst_case_dollars": worst,
                "modes": modes,
                "caching": caching,
            },
            "budget": covers,
        }


def _caching(plan: Plan) -> dict[str, Any]:
    """Which requests' fixed prefixes the provider would cache, and the tokens that saves.

    A template's fixed text (what comes before its first placeholder) is the prefix every request
    of the template shares. It is cacheable when it reaches the model's minimum cacheable length:
    OpenAI then caches it on its own; Anthropic only where synthembed marks it (``prompt_cache``).
    The estimate assumes a warm cache: one write per template (Anthropic) and reads after it.
    """
    price, cfg = plan.price, plan.recipe.provider
    minimum = price.cache_min_tokens if price else 0
    counter = plan.counter
    kind = cfg.kind
    caches = minimum > 0 and kind in ("openai", "anthropic") and (kind == "openai" or cfg.prompt_cache)
    prefixes: dict[str, int] = {}
    reads = writes = cacheable = 0
    for g in plan.groups:
        if not g.count:
            continue
        uses = np.bincount(g.template_idx, minlength=len(g.templates))
        for t, n in zip(g.templates, uses, strict=True):
            size = counter.count(t.fixed_prefix) if counter else len(t.fixed_prefix) // 4
            prefixes[t.id] = size
            if caches and n and size >= minimum:
                cacheable += int(n)
                reads += size * (int(n) - 1)
                writes += size if kind == "anthropic" else 0
    sizes = sorted(prefixes.values())
    if not minimum or kind not in ("openai", "anthropic"):
        note = "the provider has no prompt caching synthembed can price"
    elif cacheable:
        note = f"{cacheable:,} requests share a cacheable prefix (>= {minimum:,} tokens)"
    elif sizes:
        note = (
            f"prompt prefixes are {sizes[0]:,}-{sizes[-1]:,} tokens, below the {minimum:,}-token minimum the "
            "provider caches: no saving (see bench/caching.py for what a longer shared prefix would cost)"
        )
    else:
        note = "no prompts"
    return {
        "min_tokens": minimum,
        "prefix_tokens": prefixes,
        "cacheable_requests": cacheable,
        "marked": cacheable if kind == "anthropic" else 0,
        "est_cached_input_tokens": reads,
        "est_cache_write_tokens": writes,
        "note": note,
    }


def language_weights(recipe: Recipe) -> dict[str, float]:
    """The normalised language distribution a recipe asks for."""
    cfg = recipe.languages
    if cfg.scheme == "explicit":
        assert cfg.weights is not None
        return langs.normalise(cfg.weights)
    raw = langs.e5_weights(cfg.tail) if cfg.scheme == "e5" else langs.cc100_weights(cfg.alpha)
    return langs.normalise(raw, cfg.include)


def brainstorm_requests(recipe: Recipe, task_type: str) -> int:
    """Brainstorm requests needed so the pool holds one task per ``examples_per_task`` examples."""
    n = recipe.examples.counts()[task_type]
    if n == 0 or not TASK_TYPES[task_type].has_brainstorm:
        return 0
    per_request = recipe.brainstorm.tasks_per_request * recipe.brainstorm.examples_per_task
    return max(1, math.ceil(n / per_request))


def _expected_words(
    task_type: str, values: dict[str, tuple[tuple[str, ...], np.ndarray]], n: int
) -> np.ndarray:
    def lookup(name: str, table: Mapping[str, float]) -> np.ndarray:
        choices, idx = values[name]
        return np.array([table[c] for c in choices], dtype=np.float64)[idx]

    if task_type == "retrieval":
        choices, idx = values["num_words"]
        doc = np.array([float(c) for c in choices])[idx] * 1.15
        return lookup("query_length", _QUERY_WORDS) + 2 * doc
    if task_type == "classification":
        return lookup("num_words", _CLASSIFICATION_WORDS) + 6
    if task_type == "short_short":
        return np.full(n, 30.0)
    if task_type == "long_long":
        return np.full(n, 2 * LONG_LONG_MIN_WORDS * 1.2)
    return lookup("unit", _UNIT_WORDS) * 3  # sts, bitext


def _estimates(
    recipe: Recipe,
    task_type: str,
    step: str,
    count: int,
    templates: tuple[PromptTemplate, ...],
    template_idx: np.ndarray,
    values: dict[str, tuple[tuple[str, ...], np.ndarray]],
    codes: tuple[str, ...],
    lang_idx: np.ndarray | None,
    src_idx: np.ndarray | None,
    tgt_idx: np.ndarray | None,
    max_tokens: int,
    counter: TokenCounter,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected input and output tokens per request."""
    # Input estimate: the template's fixed text plus the tokens of each drawn value.
    base = np.array(
        [counter.count(t.text.format_map({f: "" for f in t.fields})) for t in templates], np.int64
    )[template_idx]
    est_in = base + 11  # chat framing
    for _name, (choices, idx) in values.items():
        est_in = est_in + np.array([counter.count(c) for c in choices], np.int64)[idx]
    lang_name_tokens = np.array([counter.count(langs.LANGUAGE_BY_CODE[c].name) for c in codes], np.int64)
    for arr in (lang_idx, src_idx, tgt_idx):
        if arr is not None:
            est_in = est_in + lang_name_tokens[arr]
    if step == "generate" and TASK_TYPES[task_type].has_brainstorm:
        est_in = est_in + int(TASK_TOKENS_ESTIMATE * counter.factor + 0.5)

    # Output estimate: words asked for times tokens per word of the (target) language.
    if step == "brainstorm":
        words = np.full(count, float(_BRAINSTORM_WORDS_PER_TASK * recipe.brainstorm.tasks_per_request))
        tpw = np.full(count, _TOKENS_PER_WORD["en"])
        overhead = 2.0 * recipe.brainstorm.tasks_per_request
    else:
        words = _expected_words(task_type, values, count)
        per_lang = np.array([_TOKENS_PER_WORD.get(c, _TOKENS_PER_WORD_DEFAULT) for c in codes])
        if src_idx is not None and tgt_idx is not None:
            tpw = (per_lang[src_idx] + 2 * per_lang[tgt_idx]) / 3
        else:
            tpw = per_lang[lang_idx]
        overhead = float(_JSON_TOKENS_PER_FIELD * len(TASK_TYPES[task_type].fields) + 2)
    est_out = np.minimum(np.rint(words * tpw * counter.factor + overhead), max_tokens).astype(np.int64)

    return est_in, est_out


def _build_group(
    recipe: Recipe,
    task_type: str,
    step: str,
    count: int,
    weights: dict[str, float],
    counter: TokenCounter | None,
) -> PlanGroup:
    seed = recipe.seed
    names = recipe.generation.templates.get(task_type) if step == "generate" else None
    templates = templates_for(task_type, step, names)
    t_rng = np.random.default_rng(_seed_for(seed, task_type, step, "template"))
    template_idx = (
        np.zeros(count, np.int8)
        if len(templates) == 1
        else t_rng.integers(0, len(templates), count).astype(np.int8)
    )
    codes = tuple(weights)
    values: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    fixed: dict[str, str] = {}
    lang_idx = src_idx = tgt_idx = None
    if step == "brainstorm":
        fixed["num_tasks"] = str(recipe.brainstorm.tasks_per_request)
        max_tokens = recipe.brainstorm.max_output_tokens
    else:
        max_tokens = recipe.provider.max_output_tokens
        for name, choices in TASK_TYPES[task_type].placeholders.items():
            rng = np.random.default_rng(_seed_for(seed, task_type, step, name))
            values[name] = (choices, rng.integers(0, len(choices), count).astype(np.int8))
        lang_rng = np.random.default_rng(_seed_for(seed, task_type, step, "language"))
        if task_type == "bitext":
            src_idx, tgt_idx = langs.sample_pairs(weights, count, lang_rng, recipe.languages.bitext_pairing)
        else:
            lang_idx = langs.sample_languages(weights, count, lang_rng)

    if counter is None:  # the runner does not need estimates and skips loading a tokenizer
        est_in = np.zeros(count, np.int64)
        est_out = np.zeros(count, np.int64)
    else:
        est_in, est_out = _estimates(
            recipe,
            task_type,
            step,
            count,
            templates,
            template_idx,
            values,
            codes,
            lang_idx,
            src_idx,
            tgt_idx,
            max_tokens,
            counter,
        )

    salt = json.dumps(
        [
            seed,
            recipe.provider.kind,
            recipe.provider.model,
            recipe.provider.temperature,
            recipe.provider.top_p,
            max_tokens,
        ]
    )
    return PlanGroup(
        task_type=task_type,
        step=step,
        count=count,
        max_tokens=max_tokens,
        templates=templates,
        template_idx=template_idx,
        values=values,
        lang_codes=codes,
        lang_idx=lang_idx,
        src_idx=src_idx,
        tgt_idx=tgt_idx,
        fixed_values=fixed,
        est_input=est_in,
        est_output=est_out,
        id_salt=salt,
    )


def build_plan(recipe: Recipe, count_tokens: bool = True) -> Plan:
    """Expand ``recipe`` into a :class:`Plan`.

    ``count_tokens=False`` skips the token and cost estimates (and loading a tokenizer), as the
    runner does: it bounds each request's input by its UTF-8 bytes instead.

    Raises:
        RecipeError: the provider's price cannot be found (see :func:`resolve_price`).
    """
    price = resolve_price(recipe.provider)
    counter = TokenCounter(recipe.provider.kind, recipe.provider.model) if count_tokens else None
    weights = language_weights(recipe)
    groups: list[PlanGroup] = []
    counts = recipe.examples.counts()
    for task_type in TASK_TYPE_NAMES:
        n_brainstorm = brainstorm_requests(recipe, task_type)
        if n_brainstorm:
            groups.append(_build_group(recipe, task_type, "brainstorm", n_brainstorm, weights, counter))
    for task_type in TASK_TYPE_NAMES:
        if counts[task_type]:
            groups.append(_build_group(recipe, task_type, "generate", counts[task_type], weights, counter))
    return Plan(recipe=recipe, groups=groups, price=price, counter=counter)
