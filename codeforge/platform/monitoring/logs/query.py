"""The log query language, one grammar on both backends (docs/monitoring.md, Logs).

    {service="api", level=~"error|critical", job!="x"} timeout "connection refused" -debug OR panic

An optional label selector (Loki's: `=`, `!=`, `=~`, `!~`, regexes fully anchored), then terms:
words that must all occur, "quoted phrases" (the words adjacent, in order), `-word` or
`-"phrase"` that must not occur, and `OR` between groups of terms (the lowest precedence, as
FTS5, PostgreSQL's websearch_to_tsquery and Google read it: `a b OR c` is (a and b) or c).

Words are matched as the full-text engines tokenize: runs of letters and digits, case-folded.
A word holding punctuation (`user_id=42`, `/api/v1`) is the phrase of its pieces. The engines'
own query syntax is never handed user text: `to_fts5` and `to_tsquery` build theirs from the
tokens, each quoted, so no input can reach FTS5 or PostgreSQL as syntax."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from codeforge.platform.monitoring.records import Matcher

__all__ = [
    "Branch",
    "LogQuery",
    "LogQueryError",
    "Term",
    "fold",
    "fts5_negative",
    "line_matcher",
    "parse",
    "to_fts5",
    "to_tsquery",
    "tokens",
]

_TOKEN = re.compile(r"[^\W_]+")  # letters and digits: what FTS5's unicode61 keeps as a token
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("=~", "!~", "!=", "=")


class LogQueryError(ValueError):
    """A query that does not parse; `position` is the 0-based offset, the message names the
    1-based line:column and what was expected there."""

    def __init__(self, message: str, position: int, text: str = "") -> None:
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        self.position = position
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(f"{line}:{column}: {message}")


def tokens(text: str) -> list[str]:
    """The searchable words of `text`, lower-cased (the engines fold case themselves too)."""
    return [t.lower() for t in _TOKEN.findall(text)]


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase's words in order
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Branch:
    """Terms that must all hold (an AND); a query is an OR of branches."""

    terms: tuple[Term, ...]

    @property
    def positive(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.negated)

    @property
    def negative(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.negated)


@dataclass(frozen=True, slots=True)
class LogQuery:
    matchers: tuple[Matcher, ...] = ()
    branches: tuple[Branch, ...] = ()  # empty: every line (of the selected streams)
    text: str = field(default="", compare=False)

    @property
    def has_text(self) -> bool:
        return bool(self.branches)

    @property
    def only_negative(self) -> bool:
        """A single branch of exclusions only (`-debug`): every line except those matching."""
        return len(self.branches) == 1 and not self.branches[0].positive


# ---- parsing ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, at: int | None = None) -> LogQueryError:
        return LogQueryError(message, self.pos if at is None else at, self.text)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "the end of the query"
        return repr(self.text[self.pos : self.pos + 12].split()[0] if self.text[self.pos :].strip() else "")

    def quoted(self) -> str:
        """A double-quoted string with backslash escapes (\\" and \\\\), the opening quote at pos."""
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.fail('unclosed quote: expected a closing " for the quote opened here', start)

    def selector(self) -> tuple[Matcher, ...]:
        open_at = self.pos
        self.pos += 1  # {
        matchers: list[Matcher] = []
        while True:
            self.skip_space()
            if self.peek() == "}":
                self.pos += 1
                if not matchers:
                    raise self.fail('empty selector: expected a label matcher such as service="api" inside {}', open_at)
                return tuple(matchers)
            if not self.peek():
                raise self.fail('unclosed brace: expected "}" to end the selector opened here', open_at)
            name_match = _LABEL_NAME.match(self.text, self.pos)
            if name_match is None:
                raise self.fail(f"expected a label name (letters, digits, _), found {self.found()}")
            name = name_match.group()
            self.pos = name_match.end()
            self.skip_space()
            op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
            if op is None:
                raise self.fail(f"expected an operator =, !=, =~ or !~ after label {name!r}, found {self.found()}")
            self.pos += len(op)
            self.skip_space()
            value_at = self.pos
            if self.peek() != '"':
                raise self.fail(f"expected a quoted value after {name}{op}, found {self.found()}")
            value = self.quoted()
            if value == "" and op in ("=~", "!~"):
                raise self.fail(f'empty regex for label {name!r}: give a pattern, or use {name}=""', value_at)
            if op in ("=~", "!~"):
                try:
                    re.compile(value)
                except re.error as exc:
                    raise self.fail(f"regex for label {name!r} does not compile: {exc}", value_at + 1) from None
            matchers.append(Matcher(name, op, value))
            self.skip_space()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() not in ("}", ""):
                raise self.fail(f'expected "," or "}}" after the matcher of {name!r}, found {self.found()}')

    def term(self) -> Term | None:
        """One term at pos; None for the word OR (the caller splits branches there)."""
        start = self.pos
        negated = self.peek() == "-"
        if negated:
            self.pos += 1
            if not self.peek() or self.peek().isspace():
                raise self.fail('expected a word or "phrase" right after "-"', start)
        if self.peek() == '"':
            raw = self.quoted()
        else:
            end = self.pos
            while end < len(self.text) and not self.text[end].isspace() and self.text[end] != '"':
                if self.text[end] in "{}":
                    what = "a selector must come first" if self.text[end] == "{" else "no selector is open"
                    raise self.fail(f"unexpected {self.text[end]!r}: {what}", end)
                end += 1
            raw = self.text[self.pos : end]
            self.pos = end
            if raw == "OR" and not negated:
                return None
        words = tokens(raw)
        if not words:
            raise self.fail(f"{raw!r} holds no letters or digits to search for (full-text search matches words)", start)
        return Term(tuple(words), negated)

    def parse(self) -> LogQuery:
        self.skip_space()
        matchers: tuple[Matcher, ...] = ()
        if self.peek() == "{":
            matchers = self.selector()
        branches: list[Branch] = []
        current: list[Term] = []
        or_at = -1
        while True:
            self.skip_space()
            if not self.peek():
                break
            at = self.pos
            term = self.term()
            if term is None:
                if not current:
                    raise self.fail("expected a term before OR", at)
                branches.append(Branch(tuple(current)))
                current, or_at = [], at
                continue
            current.append(term)
        if or_at >= 0 and not current:
            raise self.fail("expected a term after OR", or_at + 2)
        if current:
            branches.append(Branch(tuple(current)))
        if len(branches) > 1:
            for branch in branches:
                if not branch.positive:
                    raise self.fail("each side of OR needs a word that must occur (not only -exclusions)", 0)
        return LogQuery(tuple(matchers), tuple(branches), self.text)


def parse(text: str) -> LogQuery:
    """The query's AST, or a LogQueryError naming line:column and what was expected."""
    if len(text) > 4000:
        raise LogQueryError("the query is longer than 4000 characters", 4000, text)
    return _Parser(text).parse()


# ---- translation ------------------------------------------------------------------------


def _fts5_term(term: Term) -> str:
    # Tokens are letters and digits only, quoted anyway: a quoted FTS5 string is a phrase.
    return '"' + " ".join(w.replace('"', '""') for w in term.words) + '"'


def to_fts5(query: LogQuery, branches: tuple[Branch, ...] | None = None) -> str:
    """An FTS5 MATCH expression of the query's terms. Branches of exclusions only are not
    expressible in FTS5 (its NOT is binary): `only_negative` queries use `fts5_negative`."""
    parts = []
    for branch in query.branches if branches is None else branches:
        expr = " AND ".join(_fts5_term(t) for t in branch.positive)
        for t in branch.negative:
            expr = f"({expr}) NOT {_fts5_term(t)}"
        parts.append(f"({expr})")
    return " OR ".join(parts)


def fts5_negative(query: LogQuery) -> str:
    """For an `only_negative` query: the lines to leave out, as one FTS5 expression."""
    return " OR ".join(_fts5_term(t) for t in query.branches[0].negative)


def _ts_lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _ts_term(term: Term) -> str:
    inner = " <-> ".join(_ts_lexeme(w) for w in term.words)
    if len(term.words) > 1:
        inner = f"({inner})"
    return f"!{inner}" if term.negated else inner


def to_tsquery(query: LogQuery) -> str:
    """A tsquery (text form, cast with ::tsquery) of the query's terms; lexemes quoted."""
    parts = []
    for branch in query.branches:
        parts.append("(" + " & ".join(_ts_term(t) for t in branch.terms) + ")")
    return " | ".join(parts)


# ---- matching one line --------------------------------------------------------------------


def fold(text: str) -> str:
    """`text` lower-cased and without diacritics, as FTS5's `unicode61 remove_diacritics 2`
    reads it (`Zürich` is `zurich`)."""
    text = text.lower()
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def _holds(words: tuple[str, ...], found: list[str]) -> bool:
    if len(words) == 1:
        return words[0] in found
    first, size = words[0], len(words)
    return any(found[i : i + size] == list(words) for i, w in enumerate(found) if w == first)


def line_matcher(query: LogQuery) -> Callable[[str], bool] | None:
    """Whether one line matches the query's terms, read as the full-text index reads them
    (words as `tokens`, folded, phrases adjacent and in order); None when every line does.
    The SQLite store indexes chunks of lines and checks each candidate line with this."""
    if not query.branches:
        return None
    branches = [
        (
            [tuple(fold(w) for w in t.words) for t in b.positive],
            [tuple(fold(w) for w in t.words) for t in b.negative],
        )
        for b in query.branches
    ]
    # Every word of a positive term must occur as text: a cheap test before tokenizing.
    needles = [[w for t in positive for w in t] for positive, _ in branches]
    findall = _TOKEN.findall

    def match(line: str) -> bool:
        text = fold(line)
        found: list[str] | None = None
        for (positive, negative), words in zip(branches, needles, strict=True):
            if not all(w in text for w in words):
                continue
            if found is None:
                found = findall(text)
            if all(_holds(t, found) for t in positive) and not any(_holds(t, found) for t in negative):
                return True
        return False

    return match
