"""Load: 100 concurrent clients against `python -m archive serve`, mostly searching, some submitting.

    python bench/load.py [--seconds 30] [--clients 100] [--submissions 20] [--think 0.5]

The server is the real one, started as `make run` starts it (`python -m archive serve`, its
capture worker in the same process) on free ports with a temporary ARCHIVE_HOME. First the fixture
site (tests/data/site) is served on loopback and captured a few times with real Chromium
(`python -m archive capture`), so searches have hits. Then each client, a thread with its own
requests.Session, loops for --seconds: a search (a mix of words, phrases, boolean queries,
domain/date/removed filters, pages) or, --submissions times in all, a capture submission
(POST /api/captures of a fixture page) with an API token made by `python -m archive token create`
(RATE_LIMIT_TOKEN is raised for the run so the token's own limit never refuses one). Between
requests a client waits a random 0..2x--think seconds, as a person reading results would;
--think 0 is a closed loop that saturates the server.

Prints requests per second, p50/p95/p99 latency per kind, and every error; then polls every
accepted submission's job until it is `done` or `failed` and reports any that never got there.
Exit status 1 on any error or lost job.
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sites import DATA, FixtureSite  # noqa: E402

HOST = "news.example.com"
PAGES = ["/index.html", "/gallery.html"]
SEED_CAPTURES = 4  # pages captured before the load starts (two of each, so searches find several hits)
QUERIES = [
    {"q": "court"}, {"q": "block"}, {"q": "providers"}, {"q": "newsroom"}, {"q": '"blocking order"'},
    {"q": "court AND appeal"}, {"q": "photo OR lawyers"}, {"q": "providers -licence"},
    {"q": "(order OR ruling) outlet"},
    {"q": "nothingmatchesthis"}, {"q": "block", "domain": HOST}, {"q": "court", "since": "2020-01-01"},
    {"q": "providers", "until": "2100-01-01"}, {"q": "block", "removed": "true"}, {"q": "", "domain": HOST},
    {"q": "court", "limit": "5", "offset": "5"}, {"q": "outlet", "limit": "50"},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def archive(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """Run `python -m archive ARGS`; its stdout, or exit with its stderr."""
    proc = subprocess.run([sys.executable, "-m", "archive", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"python -m archive {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def start_server(env: dict[str, str], port: int, worker: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "archive", "serve", "--host", "127.0.0.1", "--port", str(port)]
    # Its log goes to a file: an unread pipe fills up under load (waitress warns of its queue depth on
    # every busy request) and the server's next log line then blocks it for good.
    log_path = Path(env["ARCHIVE_HOME"]) / "serve.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    server = subprocess.Popen(command + ([] if worker else ["--no-worker"]), env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log, text=True)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"serve exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/search?q=court", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    server.terminate()
    sys.exit("serve did not answer within 60 s")


class Load:
    """The clients' shared tallies: latencies per kind, errors, accepted jobs."""

    def __init__(self, base: str, token: str, submissions: int, think: float, seed: int):
        self.base, self.token, self.think = base, token, think
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.slowest: tuple[float, float, str] = (0.0, 0.0, "")  # seconds, when (since start), what
        self.errors: list[str] = []
        self.jobs: list[int] = []
        self.lock = threading.Lock()
        self.submissions_left = submissions
        self.submitted = 0
        self.seed = seed
        self.started = time.monotonic()

    def take_submission(self) -> int | None:
        with self.lock:
            if self.submissions_left <= 0:
                return None
            self.submissions_left -= 1
            self.submitted += 1
            return self.submitted

    def record(self, kind: str, seconds: float, error: str | None = None, what: str = "") -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            if seconds > self.slowest[0]:
                self.slowest = (seconds, time.monotonic() - seconds - self.started, what or kind)
            if error:
                self.errors.append(f"{kind}: {error}")

    def client(self, number: int, until: float, submit_every: float) -> None:
        rng = random.Random(self.seed * 1000 + number)
        http = requests.Session()
        next_submit = time.monotonic() + rng.uniform(0, submit_every)
        while time.monotonic() < until:
            if time.monotonic() >= next_submit and (n := self.take_submission()) is not None:
                self.submit(http, n)
                next_submit = time.monotonic() + submit_every
            else:
                self.search(http, rng.choice(QUERIES))
            time.sleep(rng.uniform(0, 2 * self.think))
        http.close()

    def search(self, http: requests.Session, params: dict[str, str]) -> None:
        start = time.perf_counter()
        try:
            r = http.get(f"{self.base}/api/search", params=params, timeout=30)
            elapsed = time.perf_counter() - start
            ok = r.status_code == 200 and isinstance(r.json().get("hits"), list)
            self.record("search", elapsed, None if ok else f"{params} -> {r.status_code} {r.text[:200]}",
                        what=f"search {params}")
        except (requests.RequestException, ValueError) as exc:
            self.record("search", time.perf_counter() - start, f"{params} -> {exc}")

    def submit(self, http: requests.Session, n: int) -> None:
        # Distinct URLs (a query string per submission), so each one is a job of its own.
        url = f"http://{HOST}{PAGES[n % len(PAGES)]}?load={n}"
        start = time.perf_counter()
        try:
            r = http.post(f"{self.base}/api/captures", json={"url": url}, timeout=30,
                          headers={"Authorization": f"Bearer {self.token}"})
            elapsed = time.perf_counter() - start
            if r.status_code == 202:
                with self.lock:
                    self.jobs.append(r.json()["job_id"])
                self.record("submit", elapsed)
            else:
                self.record("submit", elapsed, f"{url} -> {r.status_code} {r.text[:200]}")
        except (requests.RequestException, ValueError) as exc:
            self.record("submit", time.perf_counter() - start, f"{url} -> {exc}")


def wait_for_jobs(base: str, job_ids: list[int], timeout: float) -> dict[str, list[int]]:
    """Poll each job until it is done or failed (or ``timeout`` passes); job ids per final state."""
    states: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    with requests.Session() as http:
        while time.monotonic() < deadline:
            for job_id in job_ids:
                if states.get(job_id) not in ("done", "failed"):
                    try:
                        r = http.get(f"{base}/api/jobs/{job_id}", timeout=30)
                    except requests.RequestException:
                        continue  # a slow answer is not a lost job: ask again next round
                    states[job_id] = r.json()["status"] if r.status_code == 200 else f"HTTP {r.status_code}"
            finished = sum(1 for s in states.values() if s in ("done", "failed"))
            print(f"\r  jobs finished: {finished}/{len(job_ids)}", end="", file=sys.stderr, flush=True)
            if finished == len(job_ids):
                break
            time.sleep(1)
    print(file=sys.stderr)
    by_state: dict[str, list[int]] = defaultdict(list)
    for job_id in job_ids:
        by_state[states.get(job_id, "never seen")].append(job_id)
    return by_state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="how long the clients run (default 30)")
    parser.add_argument("--clients", type=int, default=100, help="concurrent clients (default 100)")
    parser.add_argument("--submissions", type=int, default=20, help="capture submissions in all (default 20)")
    parser.add_argument("--think", type=float, default=0.5, help="mean seconds a client waits between requests")
    parser.add_argument("--jobs-timeout", type=float, default=600, help="seconds to wait for submitted jobs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seed-captures", type=int, default=SEED_CAPTURES,
                        help=f"pages captured before the load starts (default {SEED_CAPTURES})")
    parser.add_argument("--worker-process", action="store_true",
                        help="run captures in a separate `python -m archive worker` (serve --no-worker) instead of "
                             "serve's own worker thread, to see what the in-process worker costs searches")
    parser.add_argument("--smoke", action="store_true",
                       help="tiny sizes, to check that the script runs and prints its figures "
                            "(tests/test_bench_smoke.py); the figures mean nothing then")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update({"seconds": 2, "clients": 2, "submissions": 1, "seed_captures": 1, "jobs_timeout": 300})

    with tempfile.TemporaryDirectory(prefix="load-") as tmp, FixtureSite(DATA / "site") as site:
        port = free_port()
        env = dict(os.environ, ARCHIVE_HOME=str(Path(tmp) / "home"), PYTHONPATH=str(ROOT),
                   CAPTURE_ALLOW_NETWORKS=f"{site.host}/32", CAPTURE_HOST_RULES=site.rule(HOST),
                   CAPTURE_SETTLE_TIMEOUT="3", CAPTURE_TIMEOUT="60", REPLAY_PORT=str(free_port()),
                   RATE_LIMIT_TOKEN="100000/minute")  # the bench measures the server, not the limiter
        print(f"capturing {args.seed_captures} pages of the fixture site with Chromium ...", file=sys.stderr)
        for i in range(args.seed_captures):
            archive(env, "capture", f"http://{HOST}{PAGES[i % len(PAGES)]}?seed={i}")
            print(f"  {i + 1}/{args.seed_captures}", file=sys.stderr)
        token = archive(env, "token", "create", "bench-load").split(": ", 1)[1].strip()
        server = start_server(env, port, worker=not args.worker_process)
        worker = None
        if args.worker_process:
            worker = subprocess.Popen([sys.executable, "-m", "archive", "worker"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            load = Load(base, token, args.submissions, args.think, args.seed)
            # Spread the submissions over the run: each client submits at most every this many seconds.
            submit_every = max(1.0, args.seconds * args.clients / max(args.submissions, 1) / 4)
            where = "a separate worker process" if args.worker_process else "serve's own worker"
            print(f"{args.clients} clients for {args.seconds:.0f} s (think {args.think} s), captures by {where} ...",
                  file=sys.stderr)
            until = time.monotonic() + args.seconds
            started = time.monotonic()
            threads = [threading.Thread(target=load.client, args=(n, until, submit_every), daemon=True)
                       for n in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - started
            report(load, elapsed)
            print(f"waiting for {len(load.jobs)} accepted submissions to be captured ...", file=sys.stderr)
            states = wait_for_jobs(base, load.jobs, args.jobs_timeout)
        finally:
            for process in (p for p in (server, worker) if p is not None):
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    lost = {s: ids for s, ids in states.items() if s not in ("done", "failed")}
    print(f"submissions: {len(load.jobs)} accepted; jobs done {len(states.get('done', []))}, "
          f"failed {len(states.get('failed', []))}, lost {sum(len(v) for v in lost.values())}"
          + (f" {dict(lost)}" if lost else ""))
    return 1 if load.errors or lost else 0


def report(load: Load, elapsed: float) -> None:
    total = sum(len(v) for v in load.latency.values())
    print(f"requests: {total} in {elapsed:.1f} s = {total / elapsed:.0f}/s; errors: {len(load.errors)}")
    print(f"{'kind':8} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for kind, values in sorted(load.latency.items()):
        ms = [v * 1000 for v in values]
        print(f"{kind:8} {len(ms):7d} {percentile(ms, 50):8.1f} {percentile(ms, 95):8.1f} {percentile(ms, 99):8.1f}"
              f" {max(ms):8.1f} {statistics.fmean(ms):8.1f}")
    for error in load.errors[:20]:
        print(f"  error: {error}")
    if len(load.errors) > 20:
        print(f"  ... and {len(load.errors) - 20} more errors")
    seconds, at, what = load.slowest
    print(f"slowest: {what} took {seconds * 1000:.0f} ms, sent {at:.1f} s into the run")
    search = load.latency.get("search", [])
    if search:
        p95 = percentile(search, 95) * 1000
        print(f"search p95 {p95:.0f} ms: {'within' if p95 < 200 else 'OVER'} the 200 ms target")


if __name__ == "__main__":
    sys.exit(main())
