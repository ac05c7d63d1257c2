"""The user query language, parsed into a small engine-neutral tree.

    blocked site            both words (AND is implied)
    "blocked site"          the phrase
    kloop OR azattyk        either word
    tiktok -ban             TikTok without "ban" (NOT ban is the same)
    (kloop OR azattyk) AND blocked
    блок*                   words starting with "блок" (a trailing * on a word)

A prefix needs at least MIN_PREFIX letters or digits before the *. In Russian
and English text it is matched against word stems (so "blocking*" finds what
"block*" finds); in every other language a plain word of MIN_IMPLICIT_PREFIX
or more characters also matches as a prefix (backend's job, see tantivy_query),
because Kyrgyz words take long chains of suffixes no stemmer here removes.

Operators are upper-case; precedence is NOT, then AND, then OR. Everything
that is not an operator, a quote or a parenthesis is text for the analyzer,
so URLs, "c++" or "title:x" are just words: people paste such things, and a
search box should not answer them with a syntax lesson. What cannot mean
anything (an unclosed quote or parenthesis, an operator with nothing on one
side) raises QuerySyntaxError with a message fit for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search.backend import QuerySyntaxError
from search.normalize import normalize

# Bounds that keep hostile queries cheap; far above what people type.
MAX_QUERY_CHARS = 2000
MAX_TERMS = 200
MAX_DEPTH = 20
# Shorter prefixes match too much of the dictionary to be useful or cheap.
MIN_PREFIX = 2
MIN_IMPLICIT_PREFIX = 4

_OPERATORS = ("AND", "OR", "NOT")
# Characters query_from_text() removes so that arbitrary text is a plain query.
_SYNTAX = re.compile(r'["()\\]')
_LEADING_SIGN = re.compile(r"(?<!\S)[-+]+")


@dataclass(frozen=True)
class Term:
    """A word as typed (without a trailing *); the backend's analyzer splits
    and normalizes it. With `prefix`, its last word matches as a prefix."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    """Words that must appear together, in this order."""

    text: str


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Term | Phrase | Not | And | Or


def parse_normalized(q: str) -> Node | None:
    """parse(q) with its words normalised as indexed text is (search/normalize.py): what every
    engine searches for."""
    return _normalized(parse(q))


def _normalized(node: Node | None) -> Node | None:
    if isinstance(node, Term):
        return Term(normalize(node.text).strip(), node.prefix)
    if isinstance(node, Phrase):
        return Phrase(normalize(node.text).strip())
    if isinstance(node, Not):
        return Not(_normalized(node.node))
    if isinstance(node, And | Or):
        return type(node)(tuple(_normalized(n) for n in node.nodes))
    return node


def parse(q: str) -> Node | None:
    """Parse a query; None for an empty one. Raises QuerySyntaxError."""
    if len(q) > MAX_QUERY_CHARS:
        msg = f"query is too long (at most {MAX_QUERY_CHARS} characters)"
        raise QuerySyntaxError(msg)
    tokens = _lex(q)
    if sum(1 for kind, _ in tokens if kind in ("word", "phrase", "prefix")) > MAX_TERMS:
        msg = f"query has too many terms (at most {MAX_TERMS})"
        raise QuerySyntaxError(msg)
    if not tokens:
        return None
    return _Parser(tokens).parse()


def query_from_text(text: str) -> str:
    """Turn arbitrary text (a sentence, a title) into a query matching its
    words: quotes, parentheses, leading signs, trailing stars and operator
    words removed."""
    text = _LEADING_SIGN.sub(" ", _SYNTAX.sub(" ", text))
    # A trailing * would make a prefix (and a short one an error).
    words = [w.rstrip("*") for w in text.split() if w not in _OPERATORS and w.rstrip("*")]
    if words and len(words[0]) > MAX_QUERY_CHARS:  # one giant "word"
        return words[0][:MAX_QUERY_CHARS]
    kept, length = [], 0
    for word in words[:MAX_TERMS]:
        length += len(word) + 1
        if length > MAX_QUERY_CHARS:
            break  # the start of a long text is query enough
        kept.append(word)
    return " ".join(kept)


def _lex(q: str) -> list[tuple[str, str]]:
    """Split into (kind, value) tokens: word, phrase, op, not, lparen, rparen."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            end = q.find('"', i + 1)
            if end < 0:
                msg = f"unbalanced quote: the phrase opened at position {i + 1} is not closed"
                raise QuerySyntaxError(msg)
            tokens.append(("phrase", q[i + 1 : end]))
            i = end + 1
        elif ch in "()":
            tokens.append(("lparen" if ch == "(" else "rparen", ch))
            i += 1
        elif ch in "-+":
            end = i
            while end < n and q[end] in "-+":
                end += 1
            # Signs glued to a term: "-word" excludes it, "+word" is the
            # default. A lone "-" between words is punctuation.
            if end < n and not q[end].isspace() and q[end] != ")" and "-" in q[i:end]:
                tokens.append(("not", "-"))
            i = end
        else:
            end = i
            while end < n and not q[end].isspace() and q[end] not in '"()':
                end += 1
            word = q[i:end].replace("\\", " ").strip()
            if word in _OPERATORS:
                tokens.append(("not", word) if word == "NOT" else ("op", word))
            elif word.endswith("*") and word.strip("*-+"):
                tokens.append(("prefix", _prefix(word.rstrip("*"))))
            elif word.strip("-+"):
                tokens.append(("word", word))
            # A lone "-" or "+" between words is punctuation, not an operator.
            i = max(end, i + 1)
    return tokens


def _prefix(text: str) -> str:
    if sum(ch.isalnum() for ch in text) < MIN_PREFIX:
        msg = f"{text}* is too short a prefix: give at least {MIN_PREFIX} letters before the *, e.g. блок*"
        raise QuerySyntaxError(msg)
    return text


class _Parser:
    """Recursive descent over the tokens; one method per precedence level."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def parse(self) -> Node:
        node = self._or()
        if self.pos < len(self.tokens):
            kind, value = self.tokens[self.pos]
            if kind == "rparen":
                msg = "unbalanced parenthesis: ')' without a matching '('"
            else:
                msg = f"unexpected {value!r}"
            raise QuerySyntaxError(msg)
        return node

    def _peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def _or(self) -> Node:
        nodes = [self._and()]
        while self._peek() == "op" and self.tokens[self.pos][1] == "OR":
            self.pos += 1
            self._expect_operand("OR")
            nodes.append(self._and())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def _and(self) -> Node:
        nodes = [self._unary()]
        while True:
            kind = self._peek()
            if kind == "op" and self.tokens[self.pos][1] == "AND":
                self.pos += 1
                self._expect_operand("AND")
            elif kind not in ("word", "prefix", "phrase", "lparen", "not"):
                break
            nodes.append(self._unary())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def _unary(self) -> Node:
        if self._peek() == "not":
            operator = self.tokens[self.pos][1]
            self.pos += 1
            self._expect_operand(operator)
            self._enter()
            node = Not(self._unary())
            self.depth -= 1
            return node
        return self._primary()

    def _primary(self) -> Node:
        kind = self._peek()
        if kind is None:
            msg = "query ends where a term was expected"
            raise QuerySyntaxError(msg)
        value = self.tokens[self.pos][1]
        if kind == "op":
            msg = f"{value} needs a term on each side"
            raise QuerySyntaxError(msg)
        if kind == "rparen":
            msg = (
                "empty parentheses"
                if self._previous() == "lparen"
                else ("unbalanced parenthesis: ')' without a matching '('")
            )
            raise QuerySyntaxError(msg)
        self.pos += 1
        if kind == "word":
            return Term(value)
        if kind == "prefix":
            return Term(value, prefix=True)
        if kind == "phrase":
            if not value.strip():
                msg = "empty phrase: put words between the quotes"
                raise QuerySyntaxError(msg)
            return Phrase(value)
        return self._group()

    def _enter(self) -> None:
        # Bounded so that "((((…" or "NOT NOT NOT …" cannot exhaust the stack.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            msg = f"query is nested too deeply (at most {MAX_DEPTH} levels)"
            raise QuerySyntaxError(msg)

    def _group(self) -> Node:
        self._enter()
        node = self._or()
        if self._peek() != "rparen":
            msg = "unbalanced parenthesis: '(' is not closed"
            raise QuerySyntaxError(msg)
        self.pos += 1
        self.depth -= 1
        return node

    def _previous(self) -> str | None:
        return self.tokens[self.pos - 1][0] if self.pos > 0 else None

    def _expect_operand(self, operator: str) -> None:
        kind = self._peek()
        if kind is None or kind in ("op", "rparen"):
            msg = f"{operator} needs a term after it"
            raise QuerySyntaxError(msg)
