"""The tokens and the cost of a run, and the spending caps, checked before each model call so
that a capped run stops before it spends, not after."""

from __future__ import annotations

import threading

from codeforge.catalog.errors import Conflict

from .endpoint import Endpoint

__all__ = ["BudgetExceeded", "Meter"]


class BudgetExceeded(Conflict):
    """A spending cap would be passed by the next call. `cap` is "run" or "project"."""

    def __init__(self, detail: str, *, fix: str = "", cap: str = "run", spent_usd: float = 0.0, limit_usd: float = 0.0):
        super().__init__(detail, fix=fix)
        self.cap = cap
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd


def _usd(value: float) -> str:
    return f"${value:.4f}"


class Meter:
    """Counts what a run's model calls used. Thread-safe: a run's steps may share it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.calls = 0
        self._lock = threading.Lock()

    @property
    def cost_usd(self) -> float:
        return self.endpoint.price.cost(self.prompt_tokens, self.completion_tokens)

    def check(self, prompt_tokens: int) -> None:
        """Raise BudgetExceeded if what the run spent, plus this call's prompt, passes a cap.
        The prompt is the part of the next call's cost known in advance: a call whose prompt
        alone passes the cap is refused too."""
        e = self.endpoint
        spent = self.cost_usd
        prompt_cost = e.price.cost(prompt_tokens, 0)
        call = f" (the next call's prompt: {prompt_tokens} tokens, {_usd(prompt_cost)})" if prompt_cost else ""
        if e.run_cap_usd is not None and spent + prompt_cost > e.run_cap_usd:
            raise BudgetExceeded(
                f"the run's spending cap is reached: this run spent {_usd(spent)} of its "
                f"{_usd(e.run_cap_usd)} cap{call}",
                fix="raise the cap per run (`codeforge agents configure --run-cap-usd N`, or max_cost_usd "
                "when starting the run), or give the agent a smaller task",
                cap="run",
                spent_usd=spent,
                limit_usd=e.run_cap_usd,
            )
        if e.project_cap_usd is not None and e.project_spent_usd + spent + prompt_cost > e.project_cap_usd:
            total = e.project_spent_usd + spent
            raise BudgetExceeded(
                f"the project's spending cap is reached: the project's runs spent {_usd(total)} of its "
                f"{_usd(e.project_cap_usd)} cap{call}",
                fix="raise the project's cap (`codeforge agents configure --project-cap-usd N`) or ask "
                "whoever manages the project to",
                cap="project",
                spent_usd=total,
                limit_usd=e.project_cap_usd,
            )

    def record(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.prompt_tokens += max(0, prompt_tokens)
            self.completion_tokens += max(0, completion_tokens)
            self.calls += 1
