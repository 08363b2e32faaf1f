"""`window/workDoneProgress/cancel`: the editor's cancel button reaches the platform's job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from codeforge.lsp.jobs import cancel_job_for_token

if TYPE_CHECKING:
    from codeforge.lsp.server import CodeForgeLanguageServer

__all__ = ["register"]


def register(ls: CodeForgeLanguageServer) -> None:
    @ls.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def on_cancel(ls: Any, params: types.WorkDoneProgressCancelParams) -> None:
        await cancel_job_for_token(ls, params.token)
