"""Capturing pages with Chromium through a recording proxy."""
__version__ = "0.1.0"

from .capture import CaptureFailed, CaptureOptions, Capturer, CaptureResult  # noqa: E402
from .netpolicy import HostRules, URLRejected, check_url  # noqa: E402

__all__ = ["Capturer", "CaptureOptions", "CaptureResult", "CaptureFailed", "check_url", "URLRejected",
           "HostRules", "__version__"]
