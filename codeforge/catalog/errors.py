"""Errors every layer shares: the platform raises them, HTTP carries them as
`application/problem+json`, the client raises them again, and the CLI and the language
server show their message. Each names what was wrong and what to do next."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "BadInput",
    "BadRequest",
    "CodeForgeError",
    "Conflict",
    "ExternalFailure",
    "FieldProblem",
    "Gone",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PlatformUnavailable",
    "RateLimited",
    "Unauthenticated",
    "UnsupportedMediaType",
    "field_problems",
    "scrub_secrets",
]

PROBLEM_TYPE_ROOT = "https://codeforge.dev/problems/"

MASK = "***"
# user:password@ in any URL (drivers echo the URL they could not parse, password and all).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s'\"]*):(?P<secret>[^@\s'\"]*)@")
# password=… in DSNs and query strings, password: … in driver messages and reprs.
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token)\b['\"]?\s*[=:]\s*)"
    r"(?P<secret>'[^']*'|\"[^\"]*\"|[^\s,;&)}\]]+)",
    re.IGNORECASE,
)
_PLACEHOLDERS = frozenset({MASK, "PASSWORD", "PASS", "…", "...", "YES", "NO"})


def _mask(match: re.Match[str]) -> str:
    secret = match["secret"]
    if secret.strip("'\"") in _PLACEHOLDERS:  # a hint such as USER:PASSWORD@HOST stays readable
        return match[0]
    return f"{match['head']}{':' if match.re is _URL_PASSWORD else ''}{MASK}{'@' if match.re is _URL_PASSWORD else ''}"


def scrub_secrets(text: str) -> str:
    """The text with credentials masked: URL passwords and password=… pairs. The one scrubber
    for error messages, problem bodies, job events and the platform's log lines."""
    if "://" not in text and not _KEY_VALUE.search(text):
        return text
    return _KEY_VALUE.sub(_mask, _URL_PASSWORD.sub(_mask, text))


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "fix": self.fix}

    def __str__(self) -> str:
        return f"{self.field}: {self.message} ({self.fix})"


class CodeForgeError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, fix: str = "", errors: list[FieldProblem] | None = None) -> None:
        # Details often carry a driver's message, which may quote a URL with its password:
        # scrubbed here, once, so no answer, job event or log line built from an error holds it.
        self.detail = scrub_secrets(detail)
        self.fix = scrub_secrets(fix)
        self.errors = [FieldProblem(e.field, scrub_secrets(e.message), scrub_secrets(e.fix)) for e in errors or []]
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line for a person: what was wrong, then what to do."""
        parts = [self.detail]
        parts += [str(e) for e in self.errors]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "; ".join(p for p in parts if p)

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_ROOT + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.fix:
            body["fix"] = self.fix
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return body

    @staticmethod
    def from_problem(body: dict[str, Any], status: int) -> CodeForgeError:
        slug = str(body.get("type", "")).removeprefix(PROBLEM_TYPE_ROOT)
        cls = _BY_SLUG.get(slug, CodeForgeError)
        errors = [
            FieldProblem(e.get("field", ""), e.get("message", ""), e.get("fix", "")) for e in body.get("errors", [])
        ]
        err = cls(str(body.get("detail") or body.get("title") or "error"), fix=body.get("fix", ""), errors=errors)
        err.status = status
        return err


MAX_LISTED_PROBLEMS = 50


class BadInput(CodeForgeError):
    status = 422
    slug = "bad-input"
    title = "Bad input"

    @classmethod
    def from_validation(
        cls, exc: ValidationError, *, model: type[BaseModel] | None = None, prefix: str = ""
    ) -> BadInput:
        return cls.of_fields(field_problems(exc.errors(), model=model, prefix=prefix))

    @classmethod
    def of_fields(cls, problems: list[FieldProblem]) -> BadInput:
        """At most MAX_LISTED_PROBLEMS of them: a body of 100,000 wrong items would otherwise
        be answered with an error list larger than itself."""
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = f" (the first {len(listed)} are listed)" if len(problems) > len(listed) else ""
        return cls(f"{len(problems)} field(s) need fixing{more}", errors=listed)


class BadRequest(CodeForgeError):
    """A request the HTTP layer cannot take (a header or parameter of the wrong form),
    before any operation's input is read."""

    status = 400
    slug = "bad-request"
    title = "Bad request"


class Unauthenticated(CodeForgeError):
    status = 401
    slug = "unauthenticated"
    title = "Not signed in"


class PermissionDenied(CodeForgeError):
    status = 403
    slug = "permission-denied"
    title = "Permission denied"


class NotFound(CodeForgeError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(CodeForgeError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Gone(CodeForgeError):
    """Something that existed and is over for good (an ended collaboration session)."""

    status = 410
    slug = "gone"
    title = "Gone"


class PayloadTooLarge(CodeForgeError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(CodeForgeError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RateLimited(CodeForgeError):
    """Too many failed attempts from one address; `retry_after` says when to try again."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(
        self, detail: str, *, fix: str = "", errors: list[FieldProblem] | None = None, retry_after: int = 60
    ) -> None:
        super().__init__(detail, fix=fix, errors=errors)
        self.retry_after = max(1, retry_after)


class ExternalFailure(CodeForgeError):
    """A system the platform drives (a database server, Docker, DNS) failed."""

    status = 502
    slug = "external-failure"
    title = "External system failed"


class PlatformUnavailable(CodeForgeError):
    status = 503
    slug = "unavailable"
    title = "Platform unavailable"


_BY_SLUG = {
    c.slug: c
    for c in (
        BadInput,
        BadRequest,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        Conflict,
        Gone,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        ExternalFailure,
        PlatformUnavailable,
    )
}


def _described(model: type[BaseModel] | None, loc: list[str]) -> str:
    info = model.model_fields.get(loc[0]) if model is not None and len(loc) == 1 else None
    return (info.description or "") if info is not None else ""


def _fix_for(err: dict[str, Any], field: str, description: str) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "string_pattern_mismatch" and description:
        return description
    if kind == "nul_character":
        return "remove the NUL character (\\u0000): no text the platform takes can hold it"
    if kind == "missing":
        return f"add `{field}`"
    if kind == "extra_forbidden":
        return f"remove `{field}`: this operation does not take it"
    if kind == "string_pattern_mismatch":
        return f"use a value matching {ctx.get('pattern')}"
    if kind == "string_too_short":
        return f"use at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"use at most {ctx.get('max_length')} character(s)"
    if kind in ("enum", "literal_error"):
        return f"use one of {ctx.get('expected')}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"give {kind.split('_')[0]} value"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        limit = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        return f"use a number {kind.replace('_', ' ')} {limit}"
    if kind == "value_error":
        return "see the message"
    return "correct the value"


def field_problems(errors: list[Any], *, model: type[BaseModel] | None = None, prefix: str = "") -> list[FieldProblem]:
    """Turn pydantic errors into problems naming the field and the fix; never echo the
    value given, since it may be a secret. With the input model, a field's own description
    explains a value of the wrong form better than its regular expression."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        field = ".".join([prefix, *loc] if prefix else loc) or "(input)"
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "string_pattern_mismatch":
            message = "has the wrong form"
        out.append(FieldProblem(field, message, _fix_for(err, field, _described(model, loc))))
    return out
