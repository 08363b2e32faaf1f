"""PromQL's parser: tokens to an expression tree, with types checked as Prometheus checks
them. Every error names where (line:column) and what was expected against what was found."""

from __future__ import annotations

import difflib
import math
import re

from codeforge.platform.monitoring.metrics.promql.ast import (
    Aggregate,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    Paren,
    StringLiteral,
    Unary,
    VectorMatching,
    VectorSelector,
    type_name,
)
from codeforge.platform.monitoring.metrics.promql.errors import PromQLError, line_column
from codeforge.platform.monitoring.metrics.promql.functions import (
    AGGREGATIONS,
    AGGREGATIONS_WITH_PARAM,
    FUNCTIONS,
    UNSUPPORTED,
)
from codeforge.platform.monitoring.metrics.promql.lexer import Token, duration_ms, tokenize
from codeforge.platform.monitoring.records import Matcher

__all__ = ["MAX_QUERY_LENGTH", "parse"]

MAX_QUERY_LENGTH = 64_000

# Binding strength of binary operators, weakest first; `^` is the only right-associative one.
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    ">": 3,
    "<": 3,
    ">=": 3,
    "<=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})
_MATCH_OPS = ("=", "!=", "=~", "!~")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KNOWN_NAMES = sorted(set(FUNCTIONS) | AGGREGATIONS)


def parse(text: str) -> Expr:
    """The expression tree of a PromQL query; PromQLError (with line:column) when it is not one."""
    try:
        if len(text) > MAX_QUERY_LENGTH:
            raise PromQLError(f"the query is {len(text)} characters long; at most {MAX_QUERY_LENGTH} are taken", 0)
        return _Parser(text).parse_query()
    except PromQLError as exc:
        raise exc.with_text(text) from None


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, _KNOWN_NAMES, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # ---- tokens ----------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def expect(self, kind: str, context: str) -> Token:
        if self.tok.kind != kind:
            self.fail(f'"{kind}"' if len(kind) <= 2 else kind, context)
        return self.advance()

    def fail(self, expected: str, context: str = "") -> None:
        where = f" {context}" if context else ""
        raise PromQLError(f"expected {expected}{where}, found {self.tok.describe()}", self.tok.pos)

    def is_keyword(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() in words

    # ---- expressions -----------------------------------------------------------------------

    def parse_query(self) -> Expr:
        if self.tok.kind == "eof":
            raise PromQLError("empty query: write an expression, e.g. up or rate(http_requests_total[5m])", 0)
        expr = self.parse_expr(0)
        if self.tok.kind != "eof":
            if self.tok.kind in (")", "]", "}"):
                raise PromQLError(f'unexpected "{self.tok.text}": nothing is open for it to close', self.tok.pos)
            self.fail("an operator or the end of the query", "after a complete expression")
        return expr

    def binary_operator(self) -> str | None:
        tok = self.tok
        if tok.kind in _PRECEDENCE:
            return tok.kind
        if tok.kind == "ident" and tok.text.lower() in SET_OPERATORS:
            return tok.text.lower()
        if tok.kind == "ident" and tok.text.lower() == "atan2":
            raise PromQLError('the operator "atan2" is not supported', tok.pos)
        return None

    def parse_expr(self, min_precedence: int) -> Expr:
        lhs = self.parse_unary()
        while True:
            op = self.binary_operator()
            if op is None or _PRECEDENCE[op] < min_precedence:
                return lhs
            op_tok = self.advance()
            return_bool, matching = self.binary_modifiers(op)
            # `^` groups to the right (2 ^ 3 ^ 2 = 2 ^ 9); the others to the left.
            rhs = self.parse_expr(_PRECEDENCE[op] + (0 if op == "^" else 1))
            lhs = self.check_binary(Binary(op, lhs, rhs, op_tok.pos, return_bool, matching), op_tok)

    def binary_modifiers(self, op: str) -> tuple[bool, VectorMatching]:
        return_bool = False
        if self.is_keyword("bool"):
            if op not in COMPARISONS:
                raise PromQLError(
                    "bool modifier can only be used on comparison operators (== != > < >= <=)", self.tok.pos
                )
            self.advance()
            return_bool = True
        matching = VectorMatching()
        if self.is_keyword("on", "ignoring"):
            matching.on = self.advance().text.lower() == "on"
            matching.labels = self.label_list(f"after {'on' if matching.on else 'ignoring'}")
            if self.is_keyword("group_left", "group_right"):
                raise PromQLError(
                    f"{self.tok.text} (many-to-one matching) is not supported; match one to one with on(...) "
                    "or ignoring(...), or aggregate one side first (e.g. sum by (...))",
                    self.tok.pos,
                )
        elif self.is_keyword("group_left", "group_right"):
            raise PromQLError(f"{self.tok.text} must follow on(...) or ignoring(...)", self.tok.pos)
        return return_bool, matching

    def check_binary(self, node: Binary, op_tok: Token) -> Binary:
        lt, rt = node.lhs.type, node.rhs.type
        for side in (node.lhs, node.rhs):
            if side.type not in ("scalar", "vector"):
                raise PromQLError(
                    f'binary operator "{node.op}" takes scalars and instant vectors, not {type_name(side.type)}'
                    + (" (apply a function such as rate() to a range vector first)" if side.type == "matrix" else ""),
                    side.pos if not isinstance(side, Binary) else op_tok.pos,
                )
        if node.op in SET_OPERATORS and (lt != "vector" or rt != "vector"):
            raise PromQLError(f'set operator "{node.op}" needs instant vectors on both sides', op_tok.pos)
        if node.op in COMPARISONS and lt == "scalar" and rt == "scalar" and not node.return_bool:
            raise PromQLError(f'comparisons between scalars must use the bool modifier: "{node.op} bool"', op_tok.pos)
        if (node.matching.on or node.matching.labels) and (lt != "vector" or rt != "vector"):
            raise PromQLError("on(...)/ignoring(...) only apply between two instant vectors", op_tok.pos)
        return node

    def parse_unary(self) -> Expr:
        if self.tok.kind in ("-", "+"):
            tok = self.advance()
            # Unary minus binds like `*`: -2 ^ 2 is -(2 ^ 2).
            operand = self.parse_expr(_PRECEDENCE["^"])
            if operand.type not in ("scalar", "vector"):
                raise PromQLError(f'unary "{tok.text}" takes a scalar or an instant vector', tok.pos)
            if tok.kind == "+":
                return operand
            if isinstance(operand, NumberLiteral):
                return NumberLiteral(-operand.value, tok.pos)
            return Unary("-", operand, tok.pos)
        return self.parse_postfix(self.parse_primary())

    def parse_primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            return NumberLiteral(float(int(tok.text, 16)) if tok.text[:2] in ("0x", "0X") else float(tok.text), tok.pos)
        if tok.kind == "string":
            self.advance()
            return StringLiteral(tok.text, tok.pos)
        if tok.kind == "(":
            self.advance()
            if self.tok.kind == ")":
                self.fail("an expression", 'inside "( )"')
            inner = self.parse_expr(0)
            if self.tok.kind != ")":
                self.fail('")"', f'to close the "(" at {self.where(tok.pos)}')
            self.advance()
            return Paren(inner, tok.pos)
        if tok.kind == "{":
            return self.parse_selector(None, tok)
        if tok.kind == "ident":
            lowered = tok.text.lower()
            nxt = self.peek()
            if lowered in ("inf", "nan") and nxt.kind not in ("(", "{"):
                self.advance()
                return NumberLiteral(math.inf if lowered == "inf" else math.nan, tok.pos)
            if lowered in AGGREGATIONS and (
                nxt.kind == "(" or (nxt.kind == "ident" and nxt.text.lower() in ("by", "without"))
            ):
                return self.parse_aggregate()
            if nxt.kind == "(":
                return self.parse_call()
            return self.parse_selector(tok, tok)
        if tok.kind == "duration":
            self.fail("an expression", "(a duration belongs in [ ] after a selector or after offset)")
        self.fail("an expression")
        raise AssertionError("unreachable")

    def where(self, pos: int) -> str:
        line, column = line_column(self.text, pos)
        return f"{line}:{column}"

    # ---- selectors -------------------------------------------------------------------------

    def parse_selector(self, name_tok: Token | None, start: Token) -> VectorSelector:
        matchers: list[Matcher] = []
        if name_tok is not None:
            self.advance()
            matchers.append(Matcher("__name__", "=", name_tok.text))
        if self.tok.kind == "{":
            open_tok = self.advance()
            while self.tok.kind != "}":
                label = self.tok
                if label.kind != "ident" or not _LABEL_NAME.fullmatch(label.text):
                    self.fail('a label name or "}"', "in the label matchers")
                self.advance()
                if self.tok.kind not in _MATCH_OPS:
                    self.fail("a matcher operator (= != =~ !~)", f'after label "{label.text}"')
                op = self.advance().kind
                value = self.tok
                if value.kind != "string":
                    self.fail("a quoted string", f'as the value of label "{label.text}"')
                self.advance()
                if op in ("=~", "!~"):
                    try:
                        re.compile(value.text)
                    except re.error as exc:
                        raise PromQLError(f"bad regular expression {value.text!r}: {exc}", value.pos) from None
                if label.text == "__name__" and name_tok is not None:
                    raise PromQLError("the metric name is set twice: before the braces and as __name__", label.pos)
                matchers.append(Matcher(label.text, op, value.text))
                if self.tok.kind == ",":
                    self.advance()
                elif self.tok.kind != "}":
                    self.fail('"," or "}"', f"in the label matchers opened at {self.where(open_tok.pos)}")
            self.advance()
        if not any(not _matches_empty(m) for m in matchers):
            raise PromQLError(
                "a selector needs a metric name or at least one matcher that does not match the empty string",
                start.pos,
            )
        end = self.tokens[self.i - 1]
        return VectorSelector(matchers, start.pos, self.text[start.pos : end.pos + len(_raw(end, self.text))])

    def parse_postfix(self, expr: Expr) -> Expr:
        if self.tok.kind == "[":
            open_tok = self.advance()
            if not isinstance(expr, VectorSelector):
                raise PromQLError(
                    f"a range [...] only follows a metric selector, not {type_name(expr.type)} expression "
                    "(subqueries are not supported)",
                    open_tok.pos,
                )
            dur = self.expect("duration", 'inside "[ ]" (a range such as 5m)')
            if self.tok.kind == ":":
                raise PromQLError("subqueries ([range:step]) are not supported", self.tok.pos)
            self.expect("]", "after the range duration")
            expr = MatrixSelector(expr, duration_ms(dur.text, dur.pos), expr.pos)
        if self.is_keyword("offset"):
            off_tok = self.advance()
            selector = expr.selector if isinstance(expr, MatrixSelector) else expr
            if not isinstance(selector, VectorSelector):
                raise PromQLError("offset only follows a selector (foo offset 5m, foo[5m] offset 5m)", off_tok.pos)
            sign = 1
            if self.tok.kind == "-":
                self.advance()
                sign = -1
            dur = self.expect("duration", "after offset (e.g. offset 5m)")
            selector.offset_ms = sign * duration_ms(dur.text, dur.pos)
        if self.tok.kind == "@":
            raise PromQLError("the @ modifier is not supported", self.tok.pos)
        if self.tok.kind == "[":
            raise PromQLError("a range [...] goes right after the selector, before offset", self.tok.pos)
        return expr

    # ---- calls and aggregations ------------------------------------------------------------

    def label_list(self, context: str) -> list[str]:
        self.expect("(", f"{context} (a list of label names)")
        labels: list[str] = []
        while self.tok.kind != ")":
            if self.tok.kind != "ident" or not _LABEL_NAME.fullmatch(self.tok.text):
                self.fail('a label name or ")"', context)
            labels.append(self.advance().text)
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != ")":
                self.fail('"," or ")"', f"in the label list {context}")
        self.advance()
        return labels

    def arguments(self, name: str) -> list[Expr]:
        open_tok = self.expect("(", f'after "{name}"')
        args: list[Expr] = []
        while self.tok.kind != ")":
            args.append(self.parse_expr(0))
            if self.tok.kind == ",":
                self.advance()
                if self.tok.kind == ")":
                    self.fail("an argument", 'after ","')
            elif self.tok.kind != ")":
                self.fail('"," or ")"', f"in the arguments of {name}() opened at {self.where(open_tok.pos)}")
        self.advance()
        return args

    def parse_call(self) -> Call:
        tok = self.advance()
        name = tok.text
        sig = FUNCTIONS.get(name)
        if sig is None:
            if name in UNSUPPORTED:
                raise PromQLError(f'function "{name}" is not supported by CodeForge\'s PromQL', tok.pos)
            raise PromQLError(f'unknown function "{name}"{_suggest(name)}', tok.pos)
        args = self.arguments(name)
        least, most = len(sig.args) - sig.optional, len(sig.args)
        if not least <= len(args) <= most:
            wanted = str(most) if least == most else f"{least} to {most}"
            pos = args[most].pos if len(args) > most else self.tokens[self.i - 1].pos
            raise PromQLError(f"{name}() takes {wanted} argument{'s' if most != 1 else ''}, got {len(args)}", pos)
        for arg, wanted_type in zip(args, sig.args, strict=False):
            if arg.type != wanted_type:
                hint = ""
                if wanted_type == "matrix" and isinstance(arg, VectorSelector):
                    hint = f" (add a range, e.g. {name}({arg.text}[5m]))"
                raise PromQLError(
                    f"{name}() expects {type_name(wanted_type)} here, got {type_name(arg.type)}{hint}", arg.pos
                )
        return Call(name, args, tok.pos, sig.returns)

    def parse_aggregate(self) -> Aggregate:
        tok = self.advance()
        op = tok.text.lower()
        grouping: list[str] = []
        without = False
        modifier_seen = False
        if self.is_keyword("by", "without"):
            without = self.advance().text.lower() == "without"
            grouping = self.label_list(f"after {'without' if without else 'by'}")
            modifier_seen = True
        args = self.arguments(op)
        if self.is_keyword("by", "without"):
            if modifier_seen:
                raise PromQLError("by/without is given twice", self.tok.pos)
            without = self.advance().text.lower() == "without"
            grouping = self.label_list(f"after {'without' if without else 'by'}")
        wanted = 2 if op in AGGREGATIONS_WITH_PARAM else 1
        if len(args) != wanted:
            form = (
                f"{op}(k, vector)"
                if op in ("topk", "bottomk")
                else f"{op}(φ, vector)"
                if op == "quantile"
                else f"{op}(vector)"
            )
            raise PromQLError(
                f"{op} takes {wanted} argument{'s' if wanted > 1 else ''} ({form}), got {len(args)}", tok.pos
            )
        expr = args[-1]
        if expr.type != "vector":
            raise PromQLError(f"{op} aggregates an instant vector, got {type_name(expr.type)}", expr.pos)
        param = args[0] if wanted == 2 else None
        if param is not None and param.type != "scalar":
            raise PromQLError(f"{op}'s first argument must be a scalar, got {type_name(param.type)}", param.pos)
        return Aggregate(op, expr, tok.pos, param, grouping, without)


def _matches_empty(m: Matcher) -> bool:
    if m.op == "=":
        return m.value == ""
    if m.op == "!=":
        return m.value != ""
    matched = re.fullmatch(m.value, "") is not None
    return matched if m.op == "=~" else not matched


def _raw(tok: Token, text: str) -> str:
    """How many characters a token took (a string token's text is its unquoted value)."""
    if tok.kind != "string":
        return tok.text
    quote = text[tok.pos]
    end = tok.pos + 1
    while end < len(text) and text[end] != quote:
        end += 2 if text[end] == "\\" and quote != "`" else 1
    return text[tok.pos : end + 1]
