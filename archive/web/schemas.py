"""marshmallow schemas for every input the web app takes: JSON bodies and query strings."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from archive.orders.registers import REGISTERS
from archive.settings import parse_duration
from detect.outcomes import LABELS
from search.backend import SORTS

DATE_HELP = "Use a date such as 2024-04-01 or a time such as 2024-04-01T12:00:00Z."


class UTCDateTime(fields.Field):
    """A date (``2024-04-01``) or an ISO 8601 time; times without a zone are UTC.

    As an upper bound (``end_of_day=True``) a bare date means the end of that day,
    so ``until=2024-04-01`` includes captures made on the first of April.
    """

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError(DATE_HELP)
        text = value.strip()
        try:
            if len(text) <= 10:
                day = date.fromisoformat(text)
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                return start + timedelta(days=1, microseconds=-1) if self.end_of_day else start
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"{value!r} is not a date. {DATE_HELP}") from None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class Seconds(fields.Field):
    """A duration: seconds as a number, or text like ``6h``, ``30m``, ``1d`` (at least a minute)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValidationError("Give a duration such as 86400 (seconds), 6h or 1d.")
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            raise ValidationError(f"{exc}; give a duration such as 86400 (seconds), 6h or 1d.") from None


class _SearchBase(Schema):
    class Meta:
        # Shared links pick up parameters of their own (utm_source=...): ignore them.
        unknown = EXCLUDE

    q = fields.String(load_default="")  # the search backend bounds queries and says why
    domain = fields.String(load_default=None, validate=validate.Length(max=253))
    # Only text that has since been removed (an open removal event names its capture).
    removed = fields.Boolean(load_default=False)
    # Filters named as the search facets (search.backend.FACETS); values as the facets list them.
    outcome = fields.String(load_default=None, validate=validate.OneOf(
        LABELS, error="outcome must be one of: " + ", ".join(LABELS)))
    country = fields.String(load_default=None, validate=validate.Regexp(
        r"^[A-Za-z]{2}$", error="country is a two-letter ISO 3166-1 code such as KG"))
    authority = fields.String(load_default=None, validate=validate.Length(max=200))
    # Captures of the URLs a takedown order names; of those orders imported from a register (issue 17).
    order = fields.Integer(load_default=None, validate=validate.Range(1), error_messages={
        "invalid": "order is a takedown order's number, as in /takedowns/12"})
    register = fields.String(load_default=None, validate=validate.OneOf(
        REGISTERS, error="register must be one of: " + ", ".join(REGISTERS)))
    lang = fields.String(load_default=None, validate=validate.Regexp(
        r"^[a-z]{2,3}$", error="lang is an ISO 639-1 code such as ru, ky or en"))
    year = fields.Integer(load_default=None, validate=validate.Range(1990, 2200))
    month = fields.String(load_default=None, validate=validate.Regexp(
        r"^\d{4}-(0[1-9]|1[0-2])$", error="month is YYYY-MM, e.g. 2024-05"))
    sort = fields.String(load_default="relevance", validate=validate.OneOf(
        SORTS, error="sort must be one of: " + ", ".join(SORTS)))
    # From a previous page's next_cursor: the page after it (the backend checks it).
    cursor = fields.String(load_default=None, validate=validate.Length(max=2000))
    # One hit per URL, with how many of its captures match.
    group = fields.Boolean(load_default=False)

    @pre_load
    def drop_empty(self, data: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        # An HTML form sends every field, filled in or not: "" means "not given".
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()
                if not (isinstance(v, str) and not v.strip())}

    @validates_schema
    def check_range(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError("The start date is after the end date.")


class SearchArgs(_SearchBase):
    """``GET /api/search`` query string."""

    since = UTCDateTime(load_default=None)
    until = UTCDateTime(load_default=None, end_of_day=True)
    limit = fields.Integer(load_default=10, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10_000))
    facets = fields.Boolean(load_default=False)  # count hits per facet value


class SearchForm(_SearchBase):
    """The search page's form: ``q``, ``domain``, ``from``, ``to`` and ``page``."""

    since = UTCDateTime(load_default=None, data_key="from")
    until = UTCDateTime(load_default=None, end_of_day=True, data_key="to")
    page = fields.Integer(load_default=1, validate=validate.Range(1, 500))


class _CaptureOptions(Schema):
    """What a capture submission may ask for besides its URL(s)."""

    class Meta:
        unknown = RAISE

    # Checked against the configured vantage points by the view (they are settings).
    vantage = fields.String(load_default="direct", validate=validate.Length(min=1, max=64))
    # Answer with a public capture made this recently instead of queueing a new one.
    if_not_archived_within = Seconds(load_default=None)
    # After the page, capture its links too (depth 1, at most OUTLINKS_MAX).
    capture_outlinks = fields.Boolean(load_default=False)


class CaptureRequest(_CaptureOptions):
    """``POST /api/captures`` body."""

    # marshmallow formats these messages: braces are doubled.
    url = fields.String(required=True, metadata={"example": "https://example.org/page"}, error_messages={
        "required": 'Give the URL to capture, e.g. {{"url": "https://example.org/page"}}.',
        "invalid": "url must be a string.",
    })


class BulkCaptureRequest(_CaptureOptions):
    """``POST /api/captures/bulk`` body: ``urls`` and the same options for each (each URL checked on its own)."""

    urls = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, error="urls is empty."),
                       error_messages={"required": 'Give the URLs to capture, e.g. {{"urls": ["https://example.org/a"]}}.',
                                       "invalid": "urls must be a list of URLs."})


# Deeper pages than this are typos or probes; page * size stays far inside SQLite's integers.
MAX_PAGE = 100_000


class PageArgs(Schema):
    """``?page=`` of a numbered list (orders, watches, the audit log): 1 to MAX_PAGE."""

    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, strict=False, validate=validate.Range(
        1, MAX_PAGE, error=f"page must be a number from 1 to {MAX_PAGE}, e.g. page=2."),
        error_messages={"invalid": f"page must be a number from 1 to {MAX_PAGE}, e.g. page=2."})


def page_number(args: Mapping[str, Any]) -> int:
    """The page a query string asks for (1 if none); InvalidInput saying the bounds for any other value."""
    return load(PageArgs(), {"page": args["page"]} if "page" in args else {})["page"]


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Validate ``data``; raise ``InvalidInput`` with one readable message and the per-field errors."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidInput(exc.normalized_messages()) from None


class InvalidInput(ValueError):
    """Input that failed its schema; ``str()`` is a sentence, ``fields`` the details."""

    def __init__(self, fields: dict[str, Any]):
        self.fields = fields
        super().__init__("; ".join(_sentence(name, msgs) for name, msgs in fields.items()))


def _sentence(name: str, messages: Any) -> str:
    text = " ".join(_flat(messages))
    return text if name == "_schema" else f"{name}: {text}"


def _flat(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [m for v in messages.values() for m in _flat(v)]
    if isinstance(messages, list):
        return [m for v in messages for m in _flat(v)]
    return [str(messages)]
