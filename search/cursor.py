"""Search cursors: where the next page starts, as an opaque string.

A cursor holds the sort it belongs to, the last hit's sort key (its score and
capture time in microseconds, or the time alone; then its id, the last
tie-breaker) and an as-of time
in microseconds: later pages leave out captures made after it, so captures
arriving while someone pages never shift what they see. Time-sorted pages
start after the key. Relevance pages start at the position: scores depend on
the whole index (a new document changes every term's rarity, so a single-word
query's scores all move at once), but the order of the as-of hits for a
one-word query does not, and for longer queries barely does. Engine-neutral
(the Elasticsearch backend has its own point-in-time paging).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from search.backend import SORTS, QuerySyntaxError

_BAD = "cursor is not one this archive gave out (it is cut short or altered); start again from the first page"


@dataclass(frozen=True)
class Cursor:
    sort: str  # one of SORTS
    key: tuple[float | int, ...]  # the last hit's sort values: (score, time) for relevance, (time,) for the others
    id: str  # the last hit's id, the final tie-breaker
    as_of_us: int  # captures after this time are left out of later pages
    group: bool = False  # whether it pages through URL groups
    position: int = 0  # hits (or groups) before the next page: how relevance pages go on

    def encode(self) -> str:
        data = [self.sort, list(self.key), self.id, self.as_of_us, int(self.group), self.position]
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(text: str, sort: str, group: bool) -> Cursor:
    """The cursor in `text`; QuerySyntaxError if it is damaged or belongs to
    another sort order or grouping than the query's."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        sort_name, key, doc_id, as_of, grouped, position = json.loads(raw.decode("utf-8"))
        cursor = Cursor(sort_name, tuple(key), doc_id, as_of, bool(grouped), position)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as error:
        raise QuerySyntaxError(_BAD, "cursor") from error
    valid = (
        cursor.sort in SORTS
        and len(cursor.key) == (2 if cursor.sort == "relevance" else 1)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in cursor.key)
        and isinstance(cursor.id, str)
        and isinstance(cursor.as_of_us, int)
        and isinstance(cursor.position, int)
        and cursor.position >= 0
    )
    if not valid:
        raise QuerySyntaxError(_BAD, "cursor")
    if cursor.sort != sort or cursor.group != group:
        msg = (
            f"this cursor pages results sorted by {cursor.sort}"
            f"{' grouped by URL' if cursor.group else ''}; keep the sort and grouping of the first page"
        )
        raise QuerySyntaxError(msg, "cursor")
    return cursor
