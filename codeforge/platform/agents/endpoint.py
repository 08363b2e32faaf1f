"""The model settings a run uses: where the OpenAI-compatible endpoint is, which model, what it
costs and how much a run and a project may spend. The service resolves them (organization,
then project settings); the model client, the meter and the benchmarks only read them."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CONFIGURE_COMMAND", "Endpoint", "Price", "mask_key"]

# The one command that sets what a run needs; named by every error that a missing setting causes.
CONFIGURE_COMMAND = "codeforge agents configure --base-url URL --model NAME"

MASK = "***"


@dataclass(frozen=True)
class Price:
    """USD per million tokens, as providers publish them."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1_000_000


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    # Never in a repr: endpoints end up in log lines and tracebacks.
    api_key: str = field(repr=False)
    model: str
    tools: bool = True  # False: the text edit format (editformat.py)
    timeout_s: float = 60.0  # per request: connect, and between two chunks of the stream
    max_retries: int = 4  # on 429 / 5xx / connection errors
    # Most tokens one answer may have (sent as `max_tokens`); None: the endpoint's own limit.
    # A small local model that never stops writes until its context is full without it.
    max_answer_tokens: int | None = None
    price: Price = Price()
    run_cap_usd: float | None = None
    project_cap_usd: float | None = None
    project_spent_usd: float = 0.0  # before this run

    def mask(self, text: str) -> str:
        """`text` with this endpoint's key replaced by ***: endpoints echo keys in their errors."""
        return mask_key(text, self.api_key)


def mask_key(text: str, key: str) -> str:
    if not key:
        return text
    out = text.replace(key, MASK)
    # Providers often quote a shortened key ("sk-abc...wxyz"): its long head must go too.
    if len(key) >= 12:
        out = out.replace(key[:8], MASK)
    return out
