"""Finding and launching the Chromium that captures run in."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


class BrowserNotFound(RuntimeError):
    """No Chromium could be found; the message says how to provide one."""


def find_chromium(configured: str = "") -> str:
    """CHROMIUM_PATH, then a Playwright-installed Chromium, then /usr/bin/chromium."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise BrowserNotFound(f"CHROMIUM_PATH={configured} is not an executable file")
        return configured
    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH", Path.home() / ".cache" / "ms-playwright"))
    for pattern in ("chromium-*/chrome-linux*/chrome", "chromium_headless_shell-*/chrome-*/headless_shell"):
        found = sorted(cache.glob(pattern))
        if found:
            return str(found[-1])
    for name in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or ""):
        if name and os.access(name, os.X_OK):
            return name
    raise BrowserNotFound("no Chromium found: set CHROMIUM_PATH, or run `make setup` "
                          "(installs Debian's chromium as root, or `playwright install chromium`)")


def launch_args(host_rules: str = "") -> list[str]:
    """Chromium flags for captures: quiet, no upgrades of http://, all traffic through our proxy.

    ``host_rules`` only for a Chromium that fetches without the recording proxy (bench/capture.py's
    bare Playwright): captures leave the rules to the proxy.
    """
    args = [
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic", "--disable-default-apps", "--mute-audio",
        # Archive http:// as asked instead of trying https:// first.
        "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,MediaRouter",
        # Even loopback goes through the recording proxy, so nothing escapes the address policy.
        "--proxy-bypass-list=<-loopback>",
        # WebRTC could reach addresses without the proxy: forbid non-proxied UDP.
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    if host_rules:
        args.append(f"--host-resolver-rules={host_rules}")
    return args
