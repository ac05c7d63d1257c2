"""marshmallow schemas of what the JSON API returns, for the OpenAPI document (``openapi.py``).

The views build their JSON with plain functions (``archive/lookup/present.py`` and friends); these
schemas describe that JSON, they do not produce it. Objects the archive defines are closed
(``additionalProperties: false``), so a field added to a reply without being documented here
fails the schemathesis test; evidence and other free-form dicts stay open.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from archive.orders.claims import VERDICTS
from archive.orders.registers import REGISTERS
from archive.web.routing import SQLITE_MAX_INT
from detect.outcomes import LABELS

OUTCOMES = sorted(LABELS)
JOB_STATES = ["queued", "running", "done", "failed"]


def _time(**kw) -> fields.String:
    """An ISO 8601 UTC time with a Z, as ``catalog.iso_utc`` writes it."""
    return fields.String(metadata={"format": "date-time", "example": "2024-04-18T09:30:15Z"} | kw.pop("metadata", {}),
                         **kw)


def _opt(field: fields.Field) -> fields.Field:
    """Present in every reply, possibly null."""
    field.required = True
    field.allow_none = True
    return field


class Reply(Schema):
    """A reply object: every declared field is always present."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        # Views always write every key (null when unknown): say so, so conformance checks it.
        if not field_obj.metadata.get("optional"):
            field_obj.required = True


class Error(Reply):
    """Every API error: a sentence, and per field what was wrong when particular inputs were."""

    error = fields.String(metadata={"example": "url: Give the URL to capture."})
    # "fields" would shadow Schema.fields: the attribute has another name, the JSON key is "fields".
    field_errors = fields.Dict(keys=fields.String(), data_key="fields",
                               metadata={"optional": True, "description": "Per input, its messages (when "
                                         "particular inputs were wrong).",
                                         "example": {"url": ["Give the URL to capture."]}})


class JobLinks(Reply):
    job = fields.String(metadata={"example": "/api/jobs/1"})
    page = fields.String(metadata={"example": "/jobs/1"})


class JobAccepted(Reply):
    """``POST /api/captures``: the job to poll."""

    job_id = fields.Integer(metadata={"example": 1})
    status = fields.String(validate=validate.OneOf(["queued"]))
    url = fields.String(metadata={"example": "https://example.org/page"})
    vantage = fields.String(metadata={"example": "direct"})
    links = fields.Nested(JobLinks)


class Job(Reply):
    """A capture job; ``links.capture`` and ``links.record`` appear once it is done."""

    id = fields.Integer(metadata={"example": 1})
    url = fields.String(metadata={"example": "https://example.org/page"})
    status = fields.String(validate=validate.OneOf(JOB_STATES))
    error = _opt(fields.String())
    attempts = fields.Integer()
    vantage = fields.String(metadata={"example": "direct"})
    capture_id = _opt(fields.Integer(metadata={
        "description": "The capture once done; null for the public if staff took it out of public view."}))
    created_at = _opt(_time())
    started_at = _opt(_time())
    finished_at = _opt(_time())
    options = fields.Dict(metadata={"description": "What the submission asked for, e.g. capture_outlinks.",
                                    "example": {}})
    parent_job_id = _opt(fields.Integer(metadata={"description": "The job whose outlink this one captures."}))
    children = fields.List(fields.Integer(), metadata={"description": "Jobs capturing this page's outlinks."})
    links = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"example": {"self": "/api/jobs/1", "page": "/jobs/1"}})


class Record(Reply):
    """One WARC record of a capture, where it lies and its digests."""

    role = fields.String(metadata={"example": "main"})
    type = fields.String(metadata={"example": "response"})
    target_uri = fields.String(metadata={"example": "https://example.org/page"})
    record_id = fields.String(metadata={"example": "<urn:uuid:8f1c0e4e-0c6e-4b8e-9d0a-2a4f4d1f6a11>"})
    content_type = _opt(fields.String())
    warc_file = fields.String(metadata={"example": "archive-20240418093015-00001.warc.gz"})
    offset = fields.Integer()
    length = fields.Integer()
    payload_digest = _opt(fields.String(metadata={"example": "sha256:4XXSL5..."}))
    block_digest = _opt(fields.String())
    refers_to = _opt(fields.String())


class CaptureLinks(Reply):
    self = fields.String(metadata={"example": "/api/captures/1"})
    record = fields.String(metadata={"example": "/capture/1"})
    screenshot = _opt(fields.String(metadata={"example": "/capture/1/screenshot.png"}))
    warc = fields.String(metadata={"example": "/capture/1/warc"})


_EVIDENCE = {"description": "Why the capture got its outcome; the keys depend on the outcome "
                            "(status, fingerprints, hops, similarity, ...).", "example": {"status": 200}}


class Capture(Reply):
    """A capture: what was fetched, when, what came back, its outcome, WARC records and links."""

    id = fields.Integer(metadata={"example": 1})
    url = fields.String(metadata={"example": "https://example.org/page"})
    final_url = _opt(fields.String())
    captured_at = _time()
    ended_at = _opt(_time())
    status = _opt(fields.Integer(metadata={"example": 200}))
    title = fields.String()
    lang = fields.String(metadata={"example": "ru"})
    sha256 = _opt(fields.String(metadata={"example": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c1"
                                                     "5b0f00a08"}))
    partial = fields.Boolean()
    partial_reasons = fields.List(fields.String())
    blocked = fields.List(fields.Dict(), metadata={"description": "Requests the address policy refused."})
    job_id = _opt(fields.Integer())
    vantage = fields.String(metadata={"example": "direct"})
    vantage_country = _opt(fields.String(metadata={"example": "KG", "description": "Where the vantage stood when "
                                                   "the capture was made; null for direct."}))
    outcome = _opt(fields.String(validate=validate.OneOf(OUTCOMES)))
    evidence = fields.Dict(metadata=_EVIDENCE)
    source = fields.Nested(lambda: CaptureSource())
    records = fields.List(fields.Nested(Record))
    links = fields.Nested(CaptureLinks)
    takedowns = fields.List(fields.Nested(lambda: TakedownRef()), metadata={
        "description": "Published orders naming the URL (either scheme)."})


class CaptureSource(Reply):
    """Where a capture came from: made here (``captured``), or imported from a file another tool wrote."""

    kind = fields.String(validate=validate.OneOf(["captured", "wacz", "warc", "arc"]))
    package = _opt(fields.String(metadata={"description": "The WACZ file's name (kind wacz)."}))
    file = _opt(fields.String(metadata={"description": "The WARC or ARC file's name (kind warc, arc)."}))
    software = _opt(fields.String())
    signed = fields.Boolean(metadata={"description": "The package's signature was verified on import."})
    signed_by = _opt(fields.String(metadata={"example": "btrix-sign-test.webrecorder.net"}))
    signed_at = _opt(fields.String(metadata={"example": "2022-01-18T19:00:12Z"}))
    timestamped_at = _opt(fields.String(metadata={"description": "RFC 3161 time over the signature, verified."}))
    timestamped_by = _opt(fields.String(metadata={"description": "The time-stamping authority's certificate "
                                                                 "subject."}))


class HitLinks(Reply):
    record = fields.String(metadata={"example": "/capture/1"})
    self = fields.String(metadata={"example": "/api/captures/1"})


class Hit(Reply):
    """One search hit; ``snippet`` is escaped HTML with the matches in ``<b>``."""

    id = fields.Integer(metadata={"example": 1})
    url = fields.String(metadata={"example": "https://example.org/page"})
    title = fields.String()
    captured_at = _opt(_time())
    snippet = fields.String(metadata={"example": "… ordered to <b>block</b> the site …"})
    score = fields.Float()
    domain = _opt(fields.String(metadata={"example": "example.org"}))
    lang = _opt(fields.String(metadata={"example": "en"}))
    status = _opt(fields.Integer())
    removed = fields.Boolean()
    outcome = _opt(fields.String(validate=validate.OneOf(OUTCOMES)))
    countries = fields.List(fields.String(), metadata={"description": "Countries of removal events naming it."})
    group_count = fields.Integer(metadata={"description": "With group=true: matching captures of this URL.",
                                           "example": 1})
    links = fields.Nested(HitLinks)


class FacetCount(Reply):
    value = fields.Raw(metadata={"description": "The facet's value (a string or a number)."})
    count = fields.Integer()


class SearchResult(Reply):
    total = fields.Integer()
    hits = fields.List(fields.Nested(Hit))
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FacetCount)),
                         metadata={"description": "With facets=true: per facet, its values and counts."})
    next_cursor = _opt(fields.String(metadata={"description": "Pass as cursor for the next page; null on the last."}))
    limit = fields.Integer(metadata={"example": 10})
    offset = fields.Integer(metadata={"example": 0})
    links = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "next: the next page's URL, when there is one."})


class Citation(Reply):
    """A capture cited in several styles, each naming its permanent link."""

    apa = fields.String()
    mla = fields.String()
    chicago = fields.String()
    bluebook = fields.String()
    bibtex = fields.String()
    csl_json = fields.List(fields.Dict(), metadata={"description": "CSL-JSON: an array of one item."})
    permalink = fields.String(metadata={"example": "https://archive.example/p/abc123"})


class BulkItem(Reply):
    """One URL of a bulk submission: ``code`` is the status a single submission would have had."""

    url = fields.Raw(metadata={"description": "The URL as given."})
    code = fields.Integer(metadata={"example": 202})
    job = fields.Nested(JobAccepted, metadata={"optional": True, "description": "With code 202."})
    capture = fields.Nested("Capture", metadata={"optional": True, "description": "With code 200."})
    error = fields.String(metadata={"optional": True, "description": "With a 4xx code."})
    retry_after = fields.Integer(metadata={"optional": True, "description": "Seconds, with code 429."})


class BulkResult(Reply):
    accepted = fields.Integer()
    refused = fields.Integer()
    results = fields.List(fields.Nested(BulkItem))


class Claim(Reply):
    """An order's reported action for one URL set beside the captures made since the order's date."""

    url = fields.String()
    claim = fields.String(metadata={"example": "removed", "description": "The action the recipient reports."})
    since = _opt(fields.String(metadata={"format": "date", "example": "2024-12-04"}))
    verdict = fields.String(validate=validate.OneOf(VERDICTS))
    summary = fields.String(metadata={"example": "reported removed on 4 Dec 2024; still served on 7 Dec 2024 "
                                                 "from direct"})
    seen = fields.String(validate=validate.OneOf(["served", "removed-at-source", "blocked-in-country", "not-seen"]))
    capture_id = _opt(fields.Integer(metadata={"description": "The capture the finding rests on."}))


class TakedownRef(Reply):
    id = fields.Integer()
    authority = fields.String()
    country = _opt(fields.String(metadata={"example": "KG"}))
    links = fields.Dict(keys=fields.String(), values=fields.String())
    claim = fields.Nested(Claim, allow_none=True, metadata={"optional": True, "description": "On a removal "
                          "event: what captures say of the order's reported action for the event's URL."})


class Event(Reply):
    """A removal event: the last ``ok`` capture, the first removed one, and the window between."""

    id = fields.Integer(metadata={"example": 1})
    url = fields.String(metadata={"example": "https://example.org/page"})
    site = fields.String(metadata={"example": "example.org"})
    vantage = fields.String(metadata={"example": "direct"})
    country = _opt(fields.String(metadata={"example": "KG"}))
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    outcome_label = fields.String()
    scope = fields.String(validate=validate.OneOf(["source", "country"]))
    last_ok_at = _time()
    first_removed_at = _time()
    closed_at = _opt(_time())
    open = fields.Boolean()
    before_capture_id = fields.Integer()
    after_capture_id = fields.Integer()
    restored_capture_id = _opt(fields.Integer())
    evidence_capture_id = fields.Integer(metadata={"description": "The capture with the strongest evidence seen "
                                                                  "while the event was open."})
    takedowns = fields.List(fields.Nested(TakedownRef))
    links = fields.Dict(keys=fields.String(), values=fields.String())


class FacetValue(Reply):
    value = fields.Raw(metadata={"description": "The facet's value (a string)."})
    count = fields.Integer()
    selected = fields.Boolean()


class MonthCount(Reply):
    month = fields.String(metadata={"example": "2024-04"})
    count = fields.Integer()


class RemovalList(Reply):
    total = fields.Integer()
    filters = fields.Dict(keys=fields.String(), values=fields.String())
    events = fields.List(fields.Nested(Event))
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FacetValue)))
    months = fields.List(fields.Nested(MonthCount))
    next = _opt(fields.String(metadata={"description": "Cursor of the next page; null on the last."}))
    links = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))


class CaptureBrief(Reply):
    """A capture as a removal shows it."""

    id = fields.Integer()
    captured_at = _time()
    vantage = fields.String()
    vantage_country = _opt(fields.String(metadata={"example": "KG"}))
    status = _opt(fields.Integer())
    final_url = _opt(fields.String())
    title = fields.String()
    outcome = _opt(fields.String(validate=validate.OneOf(OUTCOMES)))
    evidence = _opt(fields.Raw(metadata=_EVIDENCE))
    links = fields.Nested(CaptureLinks)


class DiffLine(Reply):
    op = fields.String(validate=validate.OneOf(["equal", "added", "removed"]))
    text = fields.String()


class Diff(Reply):
    after_has_text = fields.Boolean()
    lines = fields.List(fields.Nested(DiffLine))


class Blocking(Reply):
    """An imported measurement (OONI) that found the URL blocked: the page was up at its source then."""

    source = fields.String(metadata={"example": "ooni"})
    measurement_id = fields.String()
    url = fields.String()
    country = fields.String(metadata={"example": "RU"})
    asn = fields.String(metadata={"example": "AS137"})
    measured_at = fields.String(metadata={"format": "date-time"})
    blocking = fields.String(metadata={"example": "dns"})
    accessible = _opt(fields.Boolean())


class Removal(Event):
    """One event with both captures, the restoring one if any, and the text diff."""

    before = _opt(fields.Nested(CaptureBrief))
    after = _opt(fields.Nested(CaptureBrief))
    restored = _opt(fields.Nested(CaptureBrief))
    strongest = _opt(fields.Nested(CaptureBrief))
    diff = fields.Nested(Diff)
    blocking = fields.List(fields.Nested(Blocking))


class Mark(Reply):
    event_id = fields.Integer()
    role = fields.String(metadata={"example": "before"})


class TimelineCapture(CaptureBrief):
    marks = fields.List(fields.Nested(Mark))


class Vantage(Reply):
    name = fields.String(metadata={"example": "direct"})
    country = _opt(fields.String(metadata={"example": "KG"}))
    captures = fields.List(fields.Nested(TimelineCapture))


class Timeline(Reply):
    url = fields.String(metadata={"example": "https://example.org/page"})
    vantages = fields.List(fields.Nested(Vantage))
    events = fields.List(fields.Nested(Event))
    takedowns = fields.List(fields.Nested(TakedownRef))
    blocking = fields.List(fields.Nested(Blocking))


class Document(Reply):
    """An order's document as archived (a WARC resource record) and where to download it."""

    name = fields.String()
    content_type = fields.String(metadata={"example": "application/pdf"})
    sha256 = fields.String()
    record_id = fields.String()
    warc_file = fields.String()
    offset = fields.Integer()
    length = fields.Integer()
    link = fields.String(metadata={"example": "/takedowns/1/document"})


class UrlEvidence(Reply):
    url = fields.String()
    latest = _opt(fields.Dict(metadata={"description": "The URL's latest capture: id, captured_at, status, "
                                                       "outcome, vantage."}))
    removals = fields.List(fields.Dict(), metadata={"description": "Its removal events as catalog rows."})
    captures = fields.List(fields.Dict(), metadata={"description": "Its latest captures, newest first: id, "
                                                                   "captured_at, status, outcome, vantage, "
                                                                   "vantage_country."})
    blocking = fields.List(fields.Nested(Blocking))
    status = fields.Dict(metadata={"description": "Where it stands: state (not captured, up, removed, blocked) "
                                                  "and blocked_in (countries)."})
    claim = fields.Nested(Claim)


class Takedown(Reply):
    """A published takedown order."""

    id = fields.Integer(metadata={"example": 1})
    authority = fields.String(metadata={"example": "Ministry of Culture"})
    recipient = fields.String()
    country = fields.String(metadata={"example": "KG"})
    legal_basis = fields.String()
    issued_on = _opt(fields.String(metadata={"format": "date", "example": "2024-04-30"}))
    received_on = _opt(fields.String(metadata={"format": "date"}))
    effective_on = _opt(fields.String(metadata={"format": "date"}))
    action_demanded = fields.String(metadata={"example": "remove"})
    action_reported = fields.String(metadata={"example": "unknown"})
    summary = fields.String()
    created_at = fields.String()
    updated_at = fields.String()
    country_name = fields.String(metadata={"example": "Kyrgyzstan"})
    urls = fields.List(fields.String())
    document = _opt(fields.Nested(Document))
    register = _opt(fields.Nested(lambda: RegisterSource(), metadata={
        "description": "Where an imported order came from; null for one staff entered."}))
    links = fields.Dict(keys=fields.String(), values=fields.String())


class RegisterSource(Reply):
    """The register an order was imported from (issue 17)."""

    name = fields.String(metadata={"example": "rkn"})
    key = fields.String(metadata={"example": "суд|б/н|2014-01-10"})
    source = fields.String(metadata={"example": "dump.csv:583"})
    listed_at = _opt(fields.String(metadata={"format": "date-time"}))
    lifted_on = _opt(fields.String(metadata={"format": "date"}))
    authority_normalized = _opt(fields.String(metadata={"example": "court"}))
    lifted_urls = fields.Dict(keys=fields.String(), values=fields.String())
    domains = fields.List(fields.Dict())
    redacted_urls = fields.Integer()


class TakedownDetail(Takedown):
    evidence = fields.List(fields.Nested(UrlEvidence))


class TakedownList(Reply):
    takedowns = fields.List(fields.Nested(Takedown))
    limit = fields.Integer(metadata={"example": 50})
    offset = fields.Integer(metadata={"example": 0})


class WatchLast(Reply):
    job_id = fields.Integer()
    status = _opt(fields.String(validate=validate.OneOf(JOB_STATES)))
    error = _opt(fields.String())
    capture_id = _opt(fields.Integer(metadata={
        "description": "Null (with its time, status and outcome) for the public if staff took it out of public view."}))
    captured_at = _opt(_time())
    http_status = _opt(fields.Integer())
    outcome = _opt(fields.String(validate=validate.OneOf(OUTCOMES)))


class Watch(Reply):
    """A watched URL: how often it is captured, when next, and its last job and capture."""

    id = fields.Integer(metadata={"example": 1})
    url = fields.String(metadata={"example": "https://example.org/page"})
    vantage = fields.String(metadata={"example": "direct"})
    every = fields.String(metadata={"example": "6h"})
    every_seconds = fields.Integer(metadata={"example": 21600})
    next_due = _time()
    active = fields.Boolean()
    source = fields.String(metadata={"example": "web"})
    created_at = _time()
    last = _opt(fields.Nested(WatchLast))
    links = fields.Dict(keys=fields.String(), values=fields.String())


class WatchList(Reply):
    watches = fields.List(fields.Nested(Watch))
    total = fields.Integer()
    limit = fields.Integer(metadata={"example": 100})
    offset = fields.Integer(metadata={"example": 0})


class Snapshot(Reply):
    """The capture nearest the asked time, as the Wayback availability API gives it."""

    available = fields.Boolean()
    url = fields.String(metadata={"example": "http://127.0.0.1:8000/web/20240418093015/https://example.org/page"})
    timestamp = fields.String(metadata={"example": "20240418093015"})
    status = _opt(fields.String(metadata={"example": "200"}))
    outcome = _opt(fields.String(validate=validate.OneOf(OUTCOMES)))
    permalink = fields.String()


class Snapshots(Reply):
    closest = fields.Nested(Snapshot, metadata={"optional": True, "description": "Absent: nothing archived."})


class Available(Reply):
    url = fields.String(metadata={"example": "example.org/page"})
    archived_snapshots = fields.Nested(Snapshots)


# Inputs read without a marshmallow schema in their view (request.args.get): described here.
class AvailableArgs(Schema):
    """``GET /api/available`` query string."""

    url = fields.String(required=True, validate=validate.Length(min=1),
                        metadata={"example": "https://example.org/page"})
    timestamp = fields.String(validate=validate.Regexp(r"^\d{1,14}$"), metadata={
        "description": "YYYYMMDDhhmmss or a prefix of it; default: the latest capture.", "example": "20240418"})


class TimelineArgs(Schema):
    """``GET /api/timeline`` query string."""

    url = fields.String(required=True, validate=validate.Length(min=1, max=2048),
                        metadata={"example": "https://example.org/page"})


class TakedownListArgs(Schema):
    """``GET /api/takedowns`` query string, loaded as every JSON route loads its input (a bad one is 400)."""

    class Meta:
        unknown = EXCLUDE  # shared links pick up utm_source and the like

    country = fields.String(load_default=None, metadata={"example": "KG"})
    url = fields.String(load_default=None,
                        metadata={"description": "Only orders naming this URL, by its http or https form."})
    register = fields.String(load_default=None, validate=validate.OneOf(
        (*REGISTERS, "staff"), error="register must be one of: " + ", ".join((*REGISTERS, "staff"))), metadata={
        "description": "Only orders imported from this register; `staff`: only those entered by hand.",
        "example": "rkn"})
    authority = fields.String(load_default=None, validate=validate.Length(max=500), metadata={
        "description": "Only orders of this authority, as the order writes it or as normalised (суд or court).",
        "example": "Roskomnadzor"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, SQLITE_MAX_INT))
