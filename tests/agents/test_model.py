"""ModelClient through the real `openai` client against a ReplayServer on loopback: streaming,
tool calls, retries, faults, cancellation, caps, cost, and the key kept out of every message."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest

from codeforge.catalog.errors import BadInput, CodeForgeError, Conflict, ExternalFailure
from codeforge.platform.agents.endpoint import Endpoint, Price
from codeforge.platform.agents.meter import Meter
from codeforge.platform.agents.model import (
    BudgetExceeded,
    ModelCancelled,
    ModelClient,
    ModelFailure,
    ModelNotConfigured,
)
from codeforge.platform.agents.replay import ReplayServer
from codeforge.platform.agents.tokens import count_messages, count_tokens, count_tools

from .conftest import Sleeps

Replay = Callable[..., ReplayServer]
Client = Callable[..., ModelClient]

MESSAGES = [{"role": "system", "content": "You fix bugs."}, {"role": "user", "content": "Fix test_add."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    }
]


def test_streamed_text_arrives_in_deltas_and_is_assembled(replay: Replay, model_client: Client) -> None:
    text = "The bug is in add(): it subtracts. I will change `a - b` to `a + b`."
    server = replay([{"text": text}])
    client = model_client(server)
    deltas: list[str] = []

    turn = client.complete(MESSAGES, on_text=deltas.append)

    assert len(deltas) >= 3 and "".join(deltas) == text
    assert (turn.text, turn.tool_calls, turn.finish_reason, turn.attempts) == (text, [], "stop", 1)
    body = server.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == MESSAGES and body["model"] == "replay-model" and "tools" not in body
    assert "max_tokens" not in body  # the endpoint's own limit unless one is configured
    # The usage chunk's numbers are used, and the meter has them.
    assert turn.usage_reported
    assert turn.prompt_tokens == count_messages(MESSAGES, model="replay-model")
    assert turn.completion_tokens == count_tokens(text)
    assert (client.meter.calls, client.meter.prompt_tokens) == (1, turn.prompt_tokens)


def test_several_tool_calls_are_assembled_from_their_fragments(replay: Replay, model_client: Client) -> None:
    calls = [
        {"name": "read_file", "arguments": {"path": "src/calc.py"}, "id": "call_a"},
        {"name": "search", "arguments": {"pattern": "def add\\(", "path": "src"}},
        {"name": "finish", "arguments": {}},
    ]
    server = replay([{"text": "Looking.", "tool_calls": calls}])
    client = model_client(server)

    turn = client.complete(MESSAGES, TOOLS)

    assert turn.finish_reason == "tool_calls" and turn.text == "Looking."
    assert [(c.id, c.name, c.arguments, c.error) for c in turn.tool_calls] == [
        ("call_a", "read_file", {"path": "src/calc.py"}, ""),
        ("call_2", "search", {"pattern": "def add\\(", "path": "src"}, ""),
        ("call_3", "finish", {}, ""),
    ]
    assert json.loads(turn.tool_calls[1].raw) == calls[1]["arguments"]
    assert server.requests[0]["tools"] == TOOLS


def test_malformed_tool_arguments_are_kept_with_an_error_not_raised(replay: Replay, model_client: Client) -> None:
    calls: list[dict[str, Any]] = [
        {"name": "edit", "arguments": '{"path": "a.py", "search": "x = 1'},
        {"name": "read_file", "arguments": '["a.py"]'},
        {"name": "read_file", "arguments": {"path": "b.py"}},
    ]
    client = model_client(replay([{"tool_calls": calls}]))

    broken, listed, fine = client.complete(MESSAGES, TOOLS).tool_calls

    assert broken.arguments is None and broken.raw == calls[0]["arguments"]
    assert "not valid JSON" in broken.error and "call the tool again" in broken.error
    assert listed.arguments is None and "not an object" in listed.error
    assert fine.arguments == {"path": "b.py"} and fine.error == ""


def test_a_429_is_retried_after_what_retry_after_asks(replay: Replay, model_client: Client, sleeps: Sleeps) -> None:
    server = replay([{"status": 429, "retry_after": 3, "message": "Rate limit reached"}, {"text": "ok"}])
    client = model_client(server)

    turn = client.complete(MESSAGES)

    assert (turn.text, turn.attempts, client.retries, server.served) == ("ok", 2, 1, 2)
    assert sum(sleeps) >= 3  # at least what the endpoint asked
    assert server.requests[0] == server.requests[1]  # the same request again


def test_repeated_500s_end_in_a_model_failure_after_the_retries(
    replay: Replay, model_client: Client, sleeps: Sleeps
) -> None:
    server = replay([{"status": 500, "message": "the GPU is on fire"}], repeat_last=True)
    client = model_client(server, max_retries=2)

    with pytest.raises(ModelFailure) as caught:
        client.complete(MESSAGES)

    err = caught.value
    assert isinstance(err, ExternalFailure) and isinstance(err, CodeForgeError)
    assert (err.status_code, err.attempts, server.served, client.retries) == (500, 3, 3, 2)
    assert "after 3 attempt(s)" in err.message and "HTTP 500" in err.message and "the GPU is on fire" in err.message
    assert server.base_url in err.message and "--max-retries" in err.fix
    # Exponential backoff with jitter: the first wait in [0.25, 0.5] s, the second in [0.5, 1] s.
    assert 0.75 <= sum(sleeps) <= 1.5
    assert client.meter.calls == 0  # nothing was answered, nothing billed


def test_a_refusal_is_not_retried_and_says_what_to_check(replay: Replay, model_client: Client) -> None:
    server = replay([{"status": 404, "message": "The model `nope` does not exist"}], repeat_last=True)
    client = model_client(server, model="nope")

    with pytest.raises(ModelFailure) as caught:
        client.complete(MESSAGES)

    assert server.served == 1 and caught.value.status_code == 404
    assert "does not exist" in caught.value.message and "'nope'" in caught.value.fix


def test_a_retry_after_beyond_two_minutes_is_not_waited_out(
    replay: Replay, model_client: Client, sleeps: Sleeps
) -> None:
    server = replay([{"status": 429, "retry_after": 3600}], repeat_last=True)
    client = model_client(server)

    with pytest.raises(ModelFailure) as caught:
        client.complete(MESSAGES)

    assert sleeps == [] and server.served == 1 and client.retries == 0 and caught.value.status_code == 429
    assert "on the first attempt" in caught.value.message and "asks to wait 3600 s" in caught.value.message
    assert "rate limit" in caught.value.fix


def test_a_cut_off_stream_is_retried(replay: Replay, model_client: Client) -> None:
    text = "A long answer that the connection will not carry to its end."
    server = replay([{"text": text, "cut": True}, {"text": text}])
    client = model_client(server)
    deltas: list[str] = []

    turn = client.complete(MESSAGES, on_text=deltas.append)

    assert (turn.text, turn.finish_reason, turn.attempts, server.served) == (text, "stop", 2, 2)
    # The cut attempt's deltas reached on_text before it failed: the caller sees them, then the retry's.
    assert "".join(deltas).endswith(text) and len("".join(deltas)) > len(text)
    assert client.meter.calls == 2  # the cut attempt's tokens count too


def test_a_stream_cut_every_time_ends_in_a_model_failure(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "half of an answer", "cut": True}], repeat_last=True)
    client = model_client(server, max_retries=1)

    with pytest.raises(ModelFailure) as caught:
        client.complete(MESSAGES)

    assert server.served == 2 and "cut off" in caught.value.message and caught.value.attempts == 2


def test_a_model_that_never_finishes_ends_in_a_timeout_failure(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "thinking", "hang": True}], repeat_last=True)
    client = model_client(server, timeout_s=0.5, max_retries=1)

    with pytest.raises(ModelFailure) as caught:
        client.complete(MESSAGES)

    err = caught.value
    assert "sent nothing for 0.5 s" in err.message and "timeout_s" in err.message
    assert "--timeout-s" in err.fix and server.served == 2 and err.attempts == 2


def test_cancel_mid_stream_stops_the_call(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "one two three four five six seven eight nine ten"}])
    client = model_client(server)
    deltas: list[str] = []

    with pytest.raises(ModelCancelled):
        client.complete(MESSAGES, on_text=deltas.append, cancelled=lambda: len(deltas) >= 1)

    assert len(deltas) == 1  # nothing after the chunk that preceded the cancel


def test_cancel_before_the_call_sends_nothing(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "never sent"}])
    with pytest.raises(ModelCancelled):
        model_client(server).complete(MESSAGES, cancelled=lambda: True)
    assert server.requests == []


def test_cancel_during_a_retry_wait(replay: Replay, model_client: Client, sleeps: Sleeps) -> None:
    server = replay([{"status": 503}, {"text": "too late"}])
    client = model_client(server)

    with pytest.raises(ModelCancelled):
        client.complete(MESSAGES, cancelled=lambda: server.served >= 1)

    assert server.served == 1


def test_the_run_cap_is_checked_before_the_call(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "not reached"}])
    client = model_client(server, price=Price(input_per_mtok=1000.0), run_cap_usd=0.01)
    client.meter.record(10, 0)  # $0.01 spent: the cap is reached

    with pytest.raises(BudgetExceeded) as caught:
        client.complete(MESSAGES)

    err = caught.value
    assert isinstance(err, Conflict) and server.requests == []
    assert (err.cap, err.spent_usd, err.limit_usd) == ("run", pytest.approx(0.01), 0.01)
    assert "run's spending cap" in err.message and "$0.0100 of its $0.0100 cap" in err.message
    assert "--run-cap-usd" in err.fix


def test_a_call_whose_prompt_alone_passes_the_cap_is_refused(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "not reached"}])
    client = model_client(server, price=Price(input_per_mtok=1_000_000.0), run_cap_usd=1.0)

    with pytest.raises(BudgetExceeded) as caught:
        client.complete(MESSAGES)

    assert server.requests == [] and "the next call's prompt" in caught.value.message


def test_the_project_cap_counts_what_earlier_runs_spent(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "not reached"}])
    client = model_client(
        server, price=Price(input_per_mtok=1.0), project_cap_usd=5.0, project_spent_usd=5.0, run_cap_usd=100.0
    )

    with pytest.raises(BudgetExceeded) as caught:
        client.complete(MESSAGES)

    assert caught.value.cap == "project" and "$5.0000 of its $5.0000 cap" in caught.value.message
    assert "--project-cap-usd" in caught.value.fix and server.requests == []


def test_cost_comes_from_the_price_table(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "a", "prompt_tokens": 1000, "completion_tokens": 500}] * 2)
    client = model_client(server, price=Price(input_per_mtok=2.0, output_per_mtok=8.0), run_cap_usd=1.0)

    for _ in range(2):
        turn = client.complete(MESSAGES)

    assert (turn.prompt_tokens, turn.completion_tokens) == (1000, 500)
    m = client.meter
    assert (m.calls, m.prompt_tokens, m.completion_tokens) == (2, 2000, 1000)
    assert m.cost_usd == pytest.approx(2 * (1000 * 2.0 + 500 * 8.0) / 1e6)


def test_without_a_usage_chunk_tokens_are_counted_offline(replay: Replay, model_client: Client) -> None:
    text = "counted here"
    client = model_client(replay([{"text": text, "usage": False, "tool_calls": []}]))

    turn = client.complete(MESSAGES, TOOLS)

    assert not turn.usage_reported
    model = "replay-model"
    assert turn.prompt_tokens == count_messages(MESSAGES, model=model) + count_tools(TOOLS, model=model)
    assert turn.completion_tokens == count_tokens(text) and client.meter.completion_tokens == turn.completion_tokens


def test_an_endpoint_refusing_stream_options_is_asked_again_without(replay: Replay, model_client: Client) -> None:
    server = replay(
        [{"status": 400, "message": "Unrecognized request argument supplied: stream_options"}, {"text": "ok"}]
    )
    client = model_client(server)

    assert client.complete(MESSAGES).text == "ok"
    assert "stream_options" in server.requests[0] and "stream_options" not in server.requests[1]
    assert client.retries == 0


@pytest.mark.parametrize("status", [401, 500])
def test_the_api_key_never_appears_in_errors_or_logs(
    replay: Replay, model_client: Client, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    key = "sk-live-SECRET-0123456789abcdefghij"
    said = f"Incorrect API key provided: {key}. You can find your API key at https://example.com."
    server = replay([{"status": status, "message": said}], repeat_last=True)
    client = model_client(server, api_key=key, max_retries=1)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ModelFailure) as caught:
        client.complete(MESSAGES)

    err = caught.value
    assert server.headers[0]["authorization"] == f"Bearer {key}"  # it was used
    assert "Incorrect API key provided" in err.message  # what the endpoint said is kept, masked
    for text in (str(err), err.message, err.fix, json.dumps(err.to_problem()), caplog.text, repr(client.endpoint)):
        assert key not in text and key[:12] not in text
    if status == 401:
        assert "--api-key" in err.fix


def test_no_endpoint_configured_names_the_settings_and_the_command() -> None:
    endpoint = Endpoint(base_url="", api_key="", model="")
    with pytest.raises(ModelNotConfigured) as caught:
        ModelClient(endpoint, Meter(endpoint))
    err = caught.value
    assert isinstance(err, BadInput) and err.status == 422
    assert "no model endpoint is configured" in err.message and "base_url and model" in err.message
    assert "codeforge agents configure --base-url URL --model NAME" in err.fix and "--api-key" in err.fix


def test_a_missing_model_alone_is_named(replay: Replay) -> None:
    endpoint = Endpoint(base_url=replay([]).base_url, api_key="", model=" ")
    with pytest.raises(ModelNotConfigured, match="setting\\(s\\) model is empty"):
        ModelClient(endpoint, Meter(endpoint))


def test_a_base_url_that_is_not_http_is_refused() -> None:
    endpoint = Endpoint(base_url="ftp://models.example/v1", api_key="k", model="m")
    with pytest.raises(ModelNotConfigured, match="not an http"):
        ModelClient(endpoint, Meter(endpoint))


def test_an_endpoint_that_is_down_fails_after_the_retries(model_client: Client, replay: Replay) -> None:
    # A port bound but not listening: connections are refused, and no other process can take it.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/v1"
        client = model_client(replay([]), base_url=url, max_retries=2)

        with pytest.raises(ModelFailure) as caught:
            client.complete(MESSAGES)

    assert "connection failed before answering" in caught.value.message and caught.value.attempts == 3


def test_a_stream_ending_cleanly_before_the_finish_is_a_cut_too(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "an answer a proxy gave up on", "cut": "clean"}, {"text": "whole"}])
    client = model_client(server)

    turn = client.complete(MESSAGES)

    assert (turn.text, turn.attempts, server.served) == ("whole", 2, 2)


def test_a_clean_cut_every_time_says_the_answer_was_cut_off(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "an answer a proxy gave up on", "cut": "clean"}], repeat_last=True)
    with pytest.raises(ModelFailure, match="ended before the model finished"):
        model_client(server, max_retries=0).complete(MESSAGES)
    assert server.served == 1


def _cancelled_after(calls: int) -> Callable[[], bool]:
    """A cancel that turns true at its n-th question: asked again and again only if the client
    keeps asking while the endpoint is silent."""
    asked = [0]

    def cancelled() -> bool:
        asked[0] += 1
        return asked[0] >= calls

    return cancelled


def test_cancel_reaches_a_call_whose_model_hangs(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "never finishes", "hang": True}])
    client = model_client(server, timeout_s=60.0, max_retries=0)

    # Without the client asking during the silence, this would end in the 60 s timeout's failure.
    with pytest.raises(ModelCancelled):
        client.complete(MESSAGES, cancelled=_cancelled_after(10))

    assert server.served == 1


def test_cancel_reaches_a_call_waiting_for_its_answer(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "slow", "delay": 60}])
    client = model_client(server, timeout_s=120.0, max_retries=0)

    with pytest.raises(ModelCancelled):
        client.complete(MESSAGES, cancelled=_cancelled_after(10))

    assert server.served == 1 and client.meter.calls == 0


def test_an_error_event_mid_stream_is_retried_then_reported(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "starting an answer", "stream_error": "out of memory"}, {"text": "recovered"}])
    assert model_client(server).complete(MESSAGES).text == "recovered"

    failing = replay([{"text": "starting an answer", "stream_error": "out of memory"}], repeat_last=True)
    with pytest.raises(ModelFailure, match="error in the stream: out of memory"):
        model_client(failing, max_retries=1).complete(MESSAGES)
    assert failing.served == 2


def test_the_caps_are_checked_again_before_a_retry(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "an answer cut off half way", "cut": True}, {"text": "not reached"}])
    prompt_cost = count_messages(MESSAGES, model="replay-model") * 1000.0 / 1e6
    client = model_client(server, price=Price(input_per_mtok=1000.0), run_cap_usd=1.5 * prompt_cost)

    # The first attempt fits the cap; the cut one spent its prompt, so the retry would not.
    with pytest.raises(BudgetExceeded) as caught:
        client.complete(MESSAGES)

    assert server.served == 1 and caught.value.cap == "run"
    assert client.meter.cost_usd == pytest.approx(prompt_cost)


def test_an_answer_cap_is_sent_as_max_tokens(replay: Replay, model_client: Client) -> None:
    server = replay([{"text": "short"}])
    model_client(server, max_answer_tokens=64).complete(MESSAGES)
    assert server.requests[0]["max_tokens"] == 64
