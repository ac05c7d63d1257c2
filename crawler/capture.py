"""One capture: Chromium loads a page through the recording proxy, settles, scrolls,
and leaves a screenshot, the rendered DOM and every exchange it made.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

from crawler.version import __version__

from .browser import find_chromium, launch_args
from .certs import CertAuthority
from .failures import SITE_FAILURES
from .httpwire import Exchange
from .netpolicy import HostRules
from .proxy import RecordingProxy
from .vantage import DIRECT, Vantage

SCROLL_JS = """async (steps) => {
  const el = document.scrollingElement || document.documentElement;
  for (let i = 0; i < steps; i++) {
    const before = el.scrollHeight;
    window.scrollBy(0, window.innerHeight);
    await new Promise(r => setTimeout(r, 100));
    if (window.scrollY + window.innerHeight >= el.scrollHeight - 2 && el.scrollHeight === before) break;
  }
  window.scrollTo(0, 0);
  return el.scrollHeight;
}"""

IMAGES_JS = """async (ms) => {
  const pending = Array.from(document.images).filter(i => !i.complete)
    .map(i => new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); }));
  const fonts = document.fonts ? document.fonts.ready : Promise.resolve();
  await Promise.race([Promise.all([...pending, fonts]), new Promise(r => setTimeout(r, ms))]);
}"""

# The recording proxy sees every request, so "settled" is judged there: no exchange
# running for this long (Playwright's own networkidle waits a fixed 500 ms).
QUIET_SECONDS = 0.3
MAX_SCREENSHOT_HEIGHT = 16384  # Chromium's own texture limit; taller pages are cut here




class _NoScreenshot(Exception):
    """The capture was asked to take no screenshot."""


class CaptureFailed(Exception):
    """Nothing worth keeping was captured; the message says why (for the job and the CLI).

    ``failure`` is the proxy's record of the main document's failure ({url, kind, error, time})
    when there is one; ``provenance`` what the capture knew when it gave up.
    """

    def __init__(self, message: str, failure: dict | None = None, provenance: dict | None = None,
                 vantage: str = "direct", started: datetime | None = None, ended: datetime | None = None):
        super().__init__(message)
        self.failure = failure
        self.provenance = provenance or {}
        self.vantage = vantage
        self.started = started
        self.ended = ended

    @property
    def site_unreachable(self) -> bool:
        """True when the site itself could not be reached (not a policy block or a vantage fault)."""
        # Such a capture is kept as evidence, with the outcome `unreachable` (crawler.failures).
        return bool(self.failure) and self.failure.get("kind") in SITE_FAILURES


@dataclass(frozen=True)
class CaptureOptions:
    timeout: float = 60
    settle_timeout: float = 10
    scroll_steps: int = 20
    max_bytes: int = 200_000_000
    max_resource_bytes: int = 50_000_000
    viewport: tuple[int, int] = (1280, 900)
    allow: tuple = ()
    host_rules: str = ""
    chromium_path: str = ""

    @classmethod
    def from_settings(cls, settings) -> CaptureOptions:
        return cls(settings.capture_timeout, settings.capture_settle_timeout, settings.capture_scroll_steps,
                   settings.capture_max_bytes, settings.capture_max_resource_bytes, settings.capture_viewport,
                   tuple(settings.capture_allow_networks), settings.capture_host_rules, settings.chromium_path)


@dataclass
class CaptureResult:
    url: str
    final_url: str
    status: int
    title: str
    started: datetime
    ended: datetime
    exchanges: list[Exchange]
    main: Exchange | None
    blocked: list[dict]
    failed: list[dict]
    screenshot: bytes | None
    dom: str
    partial_reasons: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    vantage: str = "direct"

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)


class Loaded(NamedTuple):
    """What the browser ended with: the main response (None if none came), screenshot, DOM, title, and
    the charset Chromium decoded the page with (the DOM is mojibake where it differs from the bytes')."""

    response: Any
    screenshot: bytes | None
    dom: str
    title: str
    charset: str | None = None


class Capturer:
    """A running Chromium that captures pages, several at a time if asked."""

    def __init__(self, options: CaptureOptions):
        self.options = options
        self.rules = HostRules(options.host_rules)
        self.ca = CertAuthority()
        self._pw = None
        self._browser = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Capturer:
        await self._ensure_browser()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _ensure_browser(self):
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._pw is None:
                self._pw = await async_playwright().start()
            self._browser = await self._pw.chromium.launch(
                executable_path=find_chromium(self.options.chromium_path),
                # No host rules for Chromium: every request goes through the recording proxy, which applies
                # them; given to Chromium, a wildcard rule would remap the proxy's own address too.
                args=launch_args(), headless=True)
            return self._browser

    async def close(self) -> None:
        if self._browser is not None:
            try:
                await self._browser.close()
            except PlaywrightError:
                pass
            self._browser = None
        if self._pw is not None:
            await self._pw.stop()
            self._pw = None

    async def capture(self, url: str, vantage: Vantage | None = None, screenshot: bool = True) -> CaptureResult:
        """Capture ``url`` (already checked by netpolicy.check_url) within the options' limits,
        directly or through ``vantage``; without ``screenshot`` (a crawl's pages, by choice) none is taken."""
        opts = self.options
        browser = await self._ensure_browser()
        proxy = RecordingProxy(allow=opts.allow, host_rules=self.rules, ca=self.ca,
                               max_resource_bytes=opts.max_resource_bytes, max_total_bytes=opts.max_bytes,
                               read_timeout=min(30, opts.timeout), vantage=vantage)
        port = await proxy.start()
        started = datetime.now(UTC)
        reasons: list[str] = []
        loaded = await self._load(browser, proxy, port, url, time.monotonic() + opts.timeout, reasons, screenshot)
        ended = datetime.now(UTC)
        reasons.extend(proxy.limits_hit)
        if proxy.blocked:
            reasons.append(f"{len(proxy.blocked)} request(s) blocked by the address policy")
        main = _main_exchange(_redirect_chain(url, loaded.response), proxy.exchanges)
        if main is None:
            raise self._nothing_captured(browser, url, proxy, vantage, started, ended)
        if main.truncated:
            reasons.append(f"main document truncated ({main.truncated})")
        return self._result(browser, url, loaded, main, proxy, vantage, (started, ended), reasons)

    async def _load(self, browser, proxy: RecordingProxy, port: int, url: str, deadline: float,
                    reasons: list[str], screenshot: bool = True) -> Loaded:
        """The page in a fresh browser context through ``proxy``; the context and proxy are closed after."""
        width, height = self.options.viewport
        context = await browser.new_context(
            proxy={"server": f"http://127.0.0.1:{port}"}, ignore_https_errors=True,
            viewport={"width": width, "height": height}, accept_downloads=False,
            user_agent=await self._user_agent(browser))
        try:
            page = await context.new_page()
            return Loaded(*await self._drive(page, proxy, url, deadline, reasons, screenshot))
        finally:
            await context.close()
            await proxy.close()

    def _nothing_captured(self, browser, url: str, proxy: RecordingProxy, vantage: Vantage | None,
                          started: datetime, ended: datetime) -> CaptureFailed:
        """The failure to raise when no main document came back, with what the capture knew."""
        failure = _main_failure(url, proxy)
        return CaptureFailed(
            _why_nothing(url, proxy), failure=failure, vantage=vantage.name if vantage else DIRECT,
            started=started, ended=ended, provenance={
                "software": f"takedown-archive/{__version__}", "browser": f"Chromium {browser.version}",
                "user_agent": self._ua, "started_at": started.isoformat(), "ended_at": ended.isoformat(),
                "requested_url": url, "failure": failure, "failed_requests": proxy.failed,
                "blocked_requests": proxy.blocked, "host_rules": self.options.host_rules or None,
                "vantage": vantage.describe() if vantage else {"name": DIRECT, "country": None}})

    def _result(self, browser, url: str, loaded: Loaded, main: Exchange, proxy: RecordingProxy,
                vantage: Vantage | None, times: tuple[datetime, datetime], reasons: list[str]) -> CaptureResult:
        """The capture with its provenance (what a reader of the WARC needs to trust it)."""
        opts = self.options
        started, ended = times
        width, height = opts.viewport
        final_url = loaded.response.url if loaded.response is not None else main.url
        result = CaptureResult(
            url=url, final_url=final_url, status=main.status if main.status else 0, title=loaded.title,
            started=started, ended=ended, exchanges=proxy.exchanges, main=main, blocked=proxy.blocked,
            failed=proxy.failed, screenshot=loaded.screenshot, dom=loaded.dom, partial_reasons=reasons)
        result.provenance = {
            "software": f"takedown-archive/{__version__}",
            "browser": f"Chromium {browser.version}",
            "user_agent": self._ua,
            "viewport": {"width": width, "height": height},
            "started_at": started.isoformat(), "ended_at": ended.isoformat(),
            "requested_url": url, "final_url": final_url, "status": result.status,
            "main_document_ip": main.ip, "tls": main.tls,
            "exchanges": len(proxy.exchanges), "bytes": proxy.total_bytes,
            "blocked_requests": proxy.blocked, "failed_requests": proxy.failed,
            "partial": result.partial, "partial_reasons": reasons,
            "limits": {"timeout_s": opts.timeout, "max_bytes": opts.max_bytes,
                       "max_resource_bytes": opts.max_resource_bytes},
            "host_rules": opts.host_rules or None,
            "vantage": vantage.describe() if vantage else {"name": DIRECT, "country": None},
            # How Chromium decoded the page: the DOM is mojibake where this differs from the standard's choice.
            "browser_charset": loaded.charset,
        }
        result.vantage = vantage.name if vantage else DIRECT
        return result

    async def _drive(self, page, proxy: RecordingProxy, url: str, deadline: float, reasons: list[str],
                     want_screenshot: bool = True):
        """Load, settle, scroll, screenshot; each step bounded by what is left of the deadline."""
        def left() -> float:
            return max(deadline - time.monotonic(), 0.0)

        response = None
        try:
            response = await page.goto(url, wait_until="load", timeout=max(left(), 0.1) * 1000)
        except PlaywrightTimeout:
            reasons.append("page did not finish loading within the capture time limit"
                           f" ({self.options.timeout:g} s)")
        except PlaywrightError:
            pass  # the proxy's record says what went wrong; nothing to keep if no document came
        if response is None and not page.url.startswith("http"):
            return None, None, "", "", None
        # Scroll first, so lazy content starts loading, then wait once for the network to go quiet.
        try:
            await asyncio.wait_for(page.evaluate(SCROLL_JS, self.options.scroll_steps), timeout=max(left(), 0.1))
        except (TimeoutError, PlaywrightError):
            pass
        settle = min(self.options.settle_timeout, left())
        if not await proxy.wait_quiet(QUIET_SECONDS, settle):
            reasons.append(f"network did not go quiet within {settle:g} s")
        try:
            await asyncio.wait_for(page.evaluate(IMAGES_JS, int(min(3, left()) * 1000)), timeout=max(left(), 0.1))
        except (TimeoutError, PlaywrightError):
            pass
        if left() <= 0 and not any("time limit" in r for r in reasons):
            reasons.append(f"capture time limit ({self.options.timeout:g} s) reached")
        grace = 10.0  # the screenshot and DOM are the evidence: allow them a little past the limit
        screenshot = dom = None
        title, charset = "", None
        try:
            if not want_screenshot:
                raise _NoScreenshot
            height = await asyncio.wait_for(page.evaluate(
                "(document.scrollingElement || document.documentElement).scrollHeight"), grace)
            full = height <= MAX_SCREENSHOT_HEIGHT
            clip = None if full else {"x": 0, "y": 0, "width": self.options.viewport[0],
                                      "height": MAX_SCREENSHOT_HEIGHT}
            screenshot = await page.screenshot(full_page=True, clip=clip, timeout=grace * 1000,
                                               animations="disabled")
            if not full:
                reasons.append(f"screenshot cut at {MAX_SCREENSHOT_HEIGHT} px of a {height} px page")
        except _NoScreenshot:
            pass  # not asked for: not a shortcoming of the capture
        except (TimeoutError, PlaywrightError) as exc:
            reasons.append(f"no screenshot: {str(exc).splitlines()[0][:200]}")
        try:
            dom = await asyncio.wait_for(page.content(), grace)
            title = await asyncio.wait_for(page.title(), grace)
            charset = await asyncio.wait_for(page.evaluate("document.characterSet"), grace)
        except (TimeoutError, PlaywrightError) as exc:
            reasons.append(f"no DOM snapshot: {str(exc).splitlines()[0][:200]}")
        return response, screenshot, dom or "", title, charset

    async def _user_agent(self, browser) -> str:
        if not hasattr(self, "_ua"):
            page = await browser.new_page()
            try:
                ua = (await page.evaluate("navigator.userAgent")).replace("HeadlessChrome", "Chrome")
            finally:
                await page.close()
            # Set once: captures started together each asked, and each used to append the suffix again.
            self._ua = getattr(self, "_ua", f"{ua} TakedownArchive/{__version__}")
        return self._ua


def _redirect_chain(url: str, response) -> list[str]:
    """URLs the navigation went through, first to last, as the browser requested them."""
    if response is None:
        return [url]
    chain = []
    request = response.request
    while request is not None:
        chain.append(request.url.split("#")[0])
        request = request.redirected_from
    return list(reversed(chain))


def _main_exchange(chain: list[str], exchanges: list[Exchange]) -> Exchange | None:
    """The last recorded response of the navigation: the document the capture is of."""
    by_url: dict[str, Exchange] = {}
    for ex in exchanges:
        if ex.method == "GET":
            by_url.setdefault(ex.url, ex)
    main = None
    url = chain[0]
    for _ in range(30):
        ex = by_url.get(url)
        if ex is None:
            break
        main = ex
        location = ex.header("location")
        if not (300 <= ex.status < 400 and location):
            break
        url = urljoin(url, location).split("#")[0]
    if main is None:
        for candidate in chain:
            if candidate in by_url:
                main = by_url[candidate]
    return main


def _main_failure(url: str, proxy: RecordingProxy) -> dict | None:
    """The proxy's failure record for the page itself, if the page's own request failed."""
    if proxy.blocked:
        return None
    for item in proxy.failed:
        if _same_page(item["url"], url):
            return dict(item)
    return dict(proxy.failed[0]) if len(proxy.failed) == 1 else None


def _same_page(a: str, b: str) -> bool:
    """One page whatever the scheme: an http:// URL of an HSTS host is fetched as https://."""
    return a.split("://", 1)[-1].rstrip("/") == b.split("://", 1)[-1].rstrip("/")


def _why_nothing(url: str, proxy: RecordingProxy) -> str:
    for item in proxy.blocked:
        return f"blocked: {item['reason']}"
    for item in proxy.failed:
        if _same_page(item["url"], url) or len(proxy.failed) == 1:
            return f"{item['kind']}: {item['error']}"
    if proxy.failed:
        item = proxy.failed[0]
        return f"{item['kind']}: {item['error']}"
    return f"no response was received for {url}"
