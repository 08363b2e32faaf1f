"""The HTTP cache in front of a project's routes (docs/cache.md): rules per route (path, TTL,
grace, what the key varies on, when to bypass), purges by URL, prefix or tag on every edge
node, and hit/miss counts per route.

A rule applies to a route the edge publishes with `cached` on; Varnish on each edge node
serves it from the rules, compiled to VCL and loaded on every node together."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare

__all__ = [
    "DELETE_RULE",
    "HEADER_PATTERN",
    "PATH_PATTERN",
    "PURGE",
    "ROUTE_PATTERN",
    "RULES",
    "SET_RULE",
    "STATS",
    "TAG_PATTERN",
    "CacheRule",
    "CacheRuleList",
    "NodeOutcome",
    "PurgeInput",
    "PurgeResult",
    "RouteStats",
    "RuleInput",
    "RuleKeyInput",
    "RulesInput",
    "SetRuleResult",
    "Stats",
    "StatsInput",
]

ROUTE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# An absolute path of RFC 3986 characters, without quotes, backslashes, spaces or a query.
PATH_PATTERN = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,1999}$"
HEADER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
TAG_PATTERN = r"^[A-Za-z0-9._:/-]{1,128}$"
_ROUTE_HELP = "A route the edge publishes for this project (lowercase letters, digits, dashes)."
_MAX_TTL = 365 * 24 * 3600


class RuleKeyInput(ProjectInput):
    route: str = Field(
        pattern=ROUTE_PATTERN, description=_ROUTE_HELP, json_schema_extra={"x-codeforge-values": "cache.rules#route"}
    )
    path: str = Field(
        pattern=PATH_PATTERN,
        description="Path the rule applies to, starting with / (e.g. /static/); no query, quotes or spaces.",
    )
    match: Literal["prefix", "exact"] = Field(
        default="prefix", description="`prefix`: every path starting with `path`; `exact`: that path only."
    )


class RuleInput(RuleKeyInput):
    ttl_s: int = Field(
        ge=0,
        le=_MAX_TTL,
        description="Seconds a response stays fresh in the cache (0: never cached, always passed to the app).",
    )
    grace_s: int = Field(
        default=0,
        ge=0,
        le=_MAX_TTL,
        description="Seconds past its TTL a stale response may still be served while a fresh one is fetched.",
    )
    vary_headers: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Request headers the cache key varies on (e.g. Accept-Language), besides host and URL.",
    )
    query_string: bool = Field(
        default=True, description="Whether the query string is part of the cache key (off: /a?x=1 is /a)."
    )
    bypass_cookie: bool = Field(
        default=True, description="Pass requests that carry a Cookie header straight to the app, uncached."
    )
    bypass_authorization: bool = Field(
        default=True, description="Pass requests that carry an Authorization header straight to the app, uncached."
    )

    @model_validator(mode="after")
    def _headers(self) -> RuleInput:
        import re

        for h in self.vary_headers:
            if not re.match(HEADER_PATTERN, h):
                raise ValueError(
                    f"vary_headers has {h!r}: a header name is letters, digits and dashes (e.g. Accept-Language)"
                )
        if h_lower := [h.lower() for h in self.vary_headers]:
            if len(set(h_lower)) != len(h_lower):
                raise ValueError("vary_headers names a header twice")
            if {"cookie", "authorization"} & set(h_lower):
                raise ValueError(
                    "vary_headers may not name Cookie or Authorization: a per-user key caches nothing; "
                    "leave the bypass on instead"
                )
        return self


class CacheRule(BaseModel):
    route: str
    path: str
    match: Literal["prefix", "exact"]
    ttl_s: int
    grace_s: int
    vary_headers: list[str]
    query_string: bool
    bypass_cookie: bool
    bypass_authorization: bool
    updated_at: datetime | None = None
    updated_by: str = ""


class RulesInput(ProjectInput):
    route: str = Field(
        default="",
        pattern=r"^(?:" + ROUTE_PATTERN[1:-1] + r")?$",
        description="Only this route's rules (empty: every route's).",
    )


class CacheRuleList(BaseModel):
    items: list[CacheRule]


class NodeOutcome(BaseModel):
    node: str
    ok: bool
    error: str = ""


class SetRuleResult(BaseModel):
    rule: CacheRule
    nodes: list[NodeOutcome] = Field(
        description="Each edge node: whether it took the new config now (one that did not gets it when it answers)."
    )


class PurgeInput(ProjectInput):
    url: str = Field(
        default="",
        max_length=2000,
        description="Remove exactly this URL: a path with its query (/a/b?x=1), or a whole URL (https://host/a).",
    )
    prefix: str = Field(
        default="", pattern=r"^(?:" + PATH_PATTERN[1:-1] + r")?$", description="Remove every path starting with this."
    )
    tag: str = Field(
        default="",
        pattern=r"^(?:" + TAG_PATTERN[1:-1] + r")?$",
        description="Remove every response whose Cache-Tag or Surrogate-Key header holds this tag.",
    )
    route: str = Field(
        default="",
        pattern=r"^(?:" + ROUTE_PATTERN[1:-1] + r")?$",
        description="Only this route's objects (empty: every cached route of the project).",
    )

    @model_validator(mode="after")
    def _one(self) -> PurgeInput:
        given = [name for name in ("url", "prefix", "tag") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of url, prefix or tag")
        return self


class PurgeResult(BaseModel):
    purged_on: list[str] = Field(description="Nodes that removed the objects now.")
    pending: list[NodeOutcome] = Field(
        description="Nodes that did not answer: the purge is applied to each when it answers again."
    )


class StatsInput(ProjectInput):
    route: str = Field(
        default="", pattern=r"^(?:" + ROUTE_PATTERN[1:-1] + r")?$", description="Only this route (empty: every one)."
    )
    minutes: int = Field(default=60, ge=1, le=7 * 24 * 60, description="Over the last this many minutes.")


class RouteStats(BaseModel):
    route: str
    hits: int
    misses: int
    passes: int
    hit_ratio: float | None = Field(description="hits / (hits + misses); none before a cacheable request.")


class Stats(BaseModel):
    routes: list[RouteStats]
    nodes: list[NodeOutcome] = Field(description="The cache on each edge node: up, or why not.")


RULES = declare(
    Operation(
        name="cache.rules",
        title="List cache rules",
        input=RulesInput,
        output=CacheRuleList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
SET_RULE = declare(
    Operation(
        name="cache.set_rule",
        title="Set a cache rule for a route",
        input=RuleInput,
        output=SetRuleResult,
        permission=Permission.EDIT,
        target="{project}/{route}{path}",
    )
)
DELETE_RULE = declare(
    Operation(
        name="cache.delete_rule",
        title="Delete a cache rule",
        input=RuleKeyInput,
        output=SetRuleResult,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{route}{path}",
    )
)
PURGE = declare(
    Operation(
        name="cache.purge",
        title="Purge cached responses by URL, prefix or tag on every edge node",
        input=PurgeInput,
        output=PurgeResult,
        permission=Permission.EDIT,
        target="{project}",
    )
)
STATS = declare(
    Operation(
        name="cache.stats",
        title="Cache hits and misses per route",
        input=StatsInput,
        output=Stats,
        permission=Permission.VIEW,
        target="{project}",
    )
)
