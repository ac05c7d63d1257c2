"""marshmallow schemas for every input the web app takes: JSON bodies and query strings."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

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


class _SearchBase(Schema):
    class Meta:
        # Shared links pick up parameters of their own (utm_source=...): ignore them.
        unknown = EXCLUDE

    q = fields.String(load_default="")  # the search backend bounds queries and says why
    domain = fields.String(load_default=None, validate=validate.Length(max=253))
    # Only text that has since been removed (an open removal event names its capture).
    removed = fields.Boolean(load_default=False)

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


class SearchForm(_SearchBase):
    """The search page's form: ``q``, ``domain``, ``from``, ``to`` and ``page``."""

    since = UTCDateTime(load_default=None, data_key="from")
    until = UTCDateTime(load_default=None, end_of_day=True, data_key="to")
    page = fields.Integer(load_default=1, validate=validate.Range(1, 500))


class CaptureRequest(Schema):
    """``POST /api/captures`` body."""

    class Meta:
        unknown = RAISE

    # marshmallow formats these messages: braces are doubled.
    url = fields.String(required=True, error_messages={
        "required": 'Give the URL to capture, e.g. {{"url": "https://example.org/page"}}.',
        "invalid": "url must be a string.",
    })
    # Checked against the configured vantage points by the view (they are settings).
    vantage = fields.String(load_default="direct", validate=validate.Length(min=1, max=64))


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
