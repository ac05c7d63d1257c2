"""Capturing pages with Chromium through a recording proxy."""
from crawler.capture import CaptureFailed, CaptureOptions, Capturer, CaptureResult
from crawler.netpolicy import HostRules, URLRejected, check_url
from crawler.version import __version__

__all__ = ["Capturer", "CaptureOptions", "CaptureResult", "CaptureFailed", "check_url", "URLRejected",
           "HostRules", "__version__"]
