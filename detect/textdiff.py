"""How much of a page's text survived between two captures, and a line diff to show what changed."""
from __future__ import annotations

import re
from difflib import SequenceMatcher

_WORD = re.compile(r"\w+")
# Sentences and lines are the units first aligned; words are compared only inside changed stretches.
_UNIT_SPLIT = re.compile(r"(?<=[.!?…])\s+|\n+")
# Word-level alignment of two changed stretches costs about their product; past this, difflib's
# autojunk heuristic (ignoring very frequent words) keeps it fast on rewrites of whole articles.
_MAX_EXACT = 2_000_000


def similarity(a: str, b: str) -> float:
    """Share of words (0..1) the two texts have in common, in order.

    Sentences are aligned first (cheap, they are mostly unique), then words within the sentences
    that differ, so a changed date line costs a few words and a rewritten paragraph all of its own.
    """
    units_a, units_b = _units(a), _units(b)
    words_a = sum(len(u) for u in units_a)
    words_b = sum(len(u) for u in units_b)
    if words_a + words_b == 0:
        return 1.0
    keys_a = [" ".join(u) for u in units_a]
    keys_b = [" ".join(u) for u in units_b]
    matched = 0
    for op, i1, i2, j1, j2 in SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes():
        if op == "equal":
            matched += sum(len(u) for u in units_a[i1:i2])
        elif op == "replace":
            left = [w for u in units_a[i1:i2] for w in u]
            right = [w for u in units_b[j1:j2] for w in u]
            exact = len(left) * len(right) <= _MAX_EXACT
            matcher = SequenceMatcher(None, left, right, autojunk=not exact)
            matched += sum(block.size for block in matcher.get_matching_blocks())
    return 2 * matched / (words_a + words_b)


def diff_lines(before: str, after: str) -> list[tuple[str, str]]:
    """The two texts' non-blank lines as ('equal'|'removed'|'added', line), in reading order."""
    old = [line.strip() for line in before.splitlines() if line.strip()]
    new = [line.strip() for line in after.splitlines() if line.strip()]
    ops: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            ops += [("equal", line) for line in old[i1:i2]]
            continue
        ops += [("removed", line) for line in old[i1:i2]]
        ops += [("added", line) for line in new[j1:j2]]
    return ops


def _units(text: str) -> list[list[str]]:
    units = [_WORD.findall(part.casefold()) for part in _UNIT_SPLIT.split(text)]
    return [u for u in units if u]
