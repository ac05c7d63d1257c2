"""Capturing pages with Chromium through a recording proxy."""
from crawler.capture import CaptureFailed, CaptureOptions, Capturer, CaptureResult
from crawler.netpolicy import HostRules, URLRejected
from crawler.version import __version__

# A URL is checked before capture by archive.urlcheck.url_checker (built on crawler.netpolicy.check_url).
__all__ = ["Capturer", "CaptureOptions", "CaptureResult", "CaptureFailed", "URLRejected", "HostRules", "__version__"]
