"""`window/workDoneProgress/cancel`: the editor's cancel button reaches the platform's job."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from codeforge.lsp.jobs import cancel_job_for_token
from codeforge.lsp.session import CodeForgeSession

__all__ = ["register"]


def register(ls: CodeForgeSession) -> None:
    @ls.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def on_cancel(ls: Any, params: types.WorkDoneProgressCancelParams) -> None:
        await cancel_job_for_token(ls, params.token)
