"""The query language: search.query.parse and query_from_text."""

from __future__ import annotations

import pytest

from search import QuerySyntaxError, query_from_text
from search.query import And, Not, Or, Phrase, Term, parse


def test_precedence_and_defaults() -> None:
    assert parse("blocked site") == And((Term("blocked"), Term("site")))
    assert parse("a b OR c") == Or((And((Term("a"), Term("b"))), Term("c")))
    assert parse("a AND b OR c AND d") == Or((And((Term("a"), Term("b"))), And((Term("c"), Term("d")))))
    assert parse("(a OR b) c") == And((Or((Term("a"), Term("b"))), Term("c")))
    assert parse("NOT a b") == And((Not(Term("a")), Term("b")))


def test_phrases_and_signs() -> None:
    assert parse('"blocked site" -"court order" +kloop') == And(
        (Phrase("blocked site"), Not(Phrase("court order")), Term("kloop"))
    )
    assert parse("из-за a - b --c") == And((Term("из-за"), Term("a"), Term("b"), Not(Term("c"))))


def test_lower_case_operators_are_words() -> None:
    assert parse("rock and roll or not") == And((Term("rock"), Term("and"), Term("roll"), Term("or"), Term("not")))


def test_empty_query() -> None:
    assert parse("") is None
    assert parse("  \t ") is None


def test_special_characters_are_text() -> None:
    assert parse("https://kloop.kg/a?b=1") == Term("https://kloop.kg/a?b=1")
    assert parse("title:x*^2~") == Term("title:x*^2~")


@pytest.mark.parametrize(
    "q",
    [
        '"open',
        "AND",
        "a AND",
        "OR a",
        "a OR OR b",
        "NOT",
        "a NOT",
        "(a",
        "a)",
        "()",
        '""',
        "(" * 21 + "a" + ")" * 21,
        "NOT " * 21 + "a",
    ],
)
def test_malformed(q: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse(q)


def test_query_from_text_always_parses_to_plain_words() -> None:
    text = 'He said: "Block (all) sites" AND NOT -leave OR \\ c++ "'
    q = query_from_text(text)
    node = parse(q)
    assert isinstance(node, And)
    assert all(isinstance(n, Term) for n in node.nodes)
    assert [n.text for n in node.nodes] == ["He", "said:", "Block", "all", "sites", "leave", "c++"]
    assert query_from_text("") == ""
    # Any length of text still makes a valid query.
    assert parse(query_from_text("word " * 5000)) is not None
    assert parse(query_from_text("x" * 300 + " " + "y" * 3000)) == Term("x" * 300)
    assert parse(query_from_text("y" * 3000)) == Term("y" * 2000)
    assert query_from_text('AND OR NOT ( ) - + "') == ""
