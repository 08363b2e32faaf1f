"""ReplayServer speaks OpenAI's chat completions wire format: read raw (httpx) and through the
real `openai` client, faults included."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from codeforge.catalog.errors import BadInput
from codeforge.platform.agents.replay import ReplayServer, load_turns

Replay = Callable[..., ReplayServer]

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def _events(server: ReplayServer, **body: Any) -> list[str]:
    """The `data:` payloads of a streamed answer, in order."""
    payload = {"model": "m", "messages": MESSAGES, "stream": True, **body}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=payload, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    return [line.removeprefix("data: ") for line in lines]


def test_a_text_streams_as_chunks_then_usage_then_done(replay: Replay) -> None:
    server = replay([{"text": "Hello there, this is the answer."}])

    events = _events(server, stream_options={"include_usage": True})

    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "replay-model" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    texts = [t for t in contents if t]
    assert len(texts) >= 3 and "".join(texts) == "Hello there, this is the answer."
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])  # as OpenAI: null until the last


def test_no_usage_chunk_unless_asked_or_when_the_turn_withholds_it(replay: Replay) -> None:
    server = replay([{"text": "a"}, {"text": "b", "usage": False}])
    for body in ({}, {"stream_options": {"include_usage": True}}):
        chunks = [json.loads(e) for e in _events(server, **body)[:-1]]
        assert all(c["choices"] and c.get("usage") is None for c in chunks)


def test_tool_calls_stream_as_fragments_by_index(replay: Replay) -> None:
    calls: list[dict[str, Any]] = [
        {"name": "read_file", "arguments": {"path": "src/a.py"}},
        {"name": "run", "arguments": '{"command": "ls'},
    ]
    server = replay([{"tool_calls": calls}])

    chunks = [json.loads(e) for e in _events(server)[:-1]]

    deltas = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
    by_index: dict[int, list[dict[str, Any]]] = {}
    for d in deltas:
        by_index.setdefault(d["index"], []).append(d)
    assert sorted(by_index) == [0, 1]
    for i, call in enumerate(calls):
        first, *rest = by_index[i]
        assert first["id"] == f"call_{i + 1}" and first["type"] == "function"
        assert first["function"] == {"name": call["name"], "arguments": ""}
        assert len(rest) >= 2 and all("id" not in d and "name" not in d["function"] for d in rest)
        raw = "".join(d["function"]["arguments"] for d in rest)
        assert raw == (call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"]))
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_non_streaming_answers_through_the_openai_client(replay: Replay) -> None:
    server = replay([{"text": "plain", "tool_calls": [{"name": "finish", "arguments": {"summary": "done"}}]}])
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)

    answer = client.chat.completions.create(model="m", messages=MESSAGES)

    choice = answer.choices[0]
    assert answer.object == "chat.completion" and choice.finish_reason == "tool_calls"
    assert choice.message.content == "plain" and choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "finish"
    assert json.loads(call.function.arguments) == {"summary": "done"}
    assert answer.usage is not None and answer.usage.prompt_tokens > 0
    assert [m.id for m in client.models.list()] == ["replay-model"]
    client.close()


def test_requests_and_headers_are_recorded(replay: Replay) -> None:
    server = replay([{"text": "x", "prompt_tokens": 7, "completion_tokens": 2}])
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-abc", max_retries=0)

    answer = client.chat.completions.create(model="m", messages=MESSAGES, temperature=0.0)

    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 2)
    assert server.requests == [{"model": "m", "messages": MESSAGES, "temperature": 0.0}]
    assert server.headers[0]["authorization"] == "Bearer sk-abc" and server.served == 1
    client.close()


def test_a_scripted_error_carries_its_status_message_and_retry_after(replay: Replay) -> None:
    server = replay([{"status": 429, "retry_after": 7, "message": "slow down"}])
    response = httpx.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["message"] == "slow down"


def test_an_exhausted_script_answers_500_unless_the_last_turn_repeats(replay: Replay) -> None:
    body = {"model": "m", "messages": MESSAGES}
    once = replay([{"text": "only"}])
    assert httpx.post(f"{once.base_url}/chat/completions", json=body).status_code == 200
    exhausted = httpx.post(f"{once.base_url}/chat/completions", json=body)
    assert exhausted.status_code == 500 and "script exhausted" in exhausted.json()["error"]["message"]

    again = replay([{"text": "first"}, {"text": "again"}], repeat_last=True)
    texts = [
        httpx.post(f"{again.base_url}/chat/completions", json=body).json()["choices"][0]["message"]["content"]
        for _ in range(3)
    ]
    assert texts == ["first", "again", "again"]


def test_unknown_routes_and_bodies_that_are_not_json(replay: Replay) -> None:
    server = replay([{"text": "unused"}])
    assert httpx.get(f"{server.base_url}/nothing").status_code == 404
    bad = httpx.post(f"{server.base_url}/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and server.served == 0


def test_a_cut_stream_ends_without_its_last_chunk(replay: Replay) -> None:
    server = replay([{"text": "this answer is cut off half way through", "cut": True}])
    got: list[str] = []
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=10) as response,
    ):
        got.extend(line for line in response.iter_lines() if line)
    assert got and "data: [DONE]" not in got


def test_a_hanging_turn_is_released_by_stop() -> None:
    server = ReplayServer([{"text": "never ends", "hang": True}])
    server.start()
    outcome: list[str] = []
    first = threading.Event()

    def read() -> None:
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        try:
            with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=None) as response:
                for line in response.iter_lines():
                    if line:
                        outcome.append(line)
                        first.set()
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)
        outcome.append("ended")

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(30)  # the first chunk came, then nothing
    server.stop()
    reader.join(30)
    assert not reader.is_alive() and outcome[-1] == "ended" and "data: [DONE]" not in outcome


def test_a_delayed_turn_still_answers(replay: Replay) -> None:
    server = replay([{"text": "late", "delay": 0.2}])
    response = httpx.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert response.json()["choices"][0]["message"]["content"] == "late"


def test_load_turns_reads_a_recorded_run(tmp_path: Path) -> None:
    turns = [{"text": "a"}, {"tool_calls": [{"name": "finish", "arguments": {"summary": "s"}}]}, {"status": 500}]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(turns))
    assert load_turns(path) == turns
    with ReplayServer(load_turns(path)) as server:
        assert server.base_url.endswith("/v1")


@pytest.mark.parametrize(
    ("content", "says"),
    [("{not json", "cannot read"), ('{"text": "a"}', "not a list"), ('[{"txt": "a"}]', "unknown keys")],
)
def test_load_turns_refuses_what_is_not_a_recorded_run(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(content)
    with pytest.raises(BadInput, match=says):
        load_turns(path)
    with pytest.raises(BadInput, match="cannot read"):
        load_turns(tmp_path / "missing.json")
