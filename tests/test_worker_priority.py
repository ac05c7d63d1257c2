"""Capture work yields the CPU to readers: the worker thread and what it starts run niced."""
from __future__ import annotations

import os
import subprocess
import threading

from archive.capturing.worker import lower_priority


def test_worker_thread_and_its_children_are_niced_but_not_the_app():
    seen = {}

    def worker():
        lower_priority(10)
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        # A process started from the thread (as Playwright starts Chromium) inherits it.
        seen["child"] = int(subprocess.run(["sh", "-c", "ps -o ni= -p $$"], capture_output=True,
                                           text=True, check=True).stdout)

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"thread": max(10, before), "child": max(10, before)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the app's threads are untouched
