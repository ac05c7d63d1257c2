"""Benchmarks cannot rot: each `bench/*.py` runs at its smoke size, exits 0 and prints its figures.

The figures' values mean nothing at these sizes and are not checked; that each line is there is.
bench/search.py runs tantivy only here (--no-engine); tests/test_bench_search.py runs it on the session's
real search engine.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT

N = r"[\d.,]+"  # a figure, whatever its value
FIGURES = {
    "warc": [rf"^WARC benchmark: {N} MB of payload in {N} response records",
             rf"^  write  archive +{N} MB/s +bare warcio +{N} MB/s +archive/bare {N}",
             rf"^  read   archive +{N} MB/s +bare warcio +{N} MB/s +archive/bare {N}"],
    "lookup": [rf"^catalog lookup benchmark: {N} captures, {N} records",
               rf"^  capture of URL nearest a time \+ its records: p50 +{N} ms +p95 +{N} ms",
               rf"^  original for a payload digest \(dedup\): +p50 +{N} ms"],
    "schedule": [r"^scheduler benchmark: pending cap",
                 rf"^  \(a\) due selection: +p50 {N} ms +p95 {N} ms",
                 rf"^  \(b\) scheduling round: {N} jobs/round, {N} ms per job queued",
                 rf"^      GET / +p50 {N} ms vs {N} ms", rf"^      GET /watches +p50 {N} ms"],
    "search": [rf"^indexing: ours {N} docs/s .* raw {N} docs/s .* ratio ours/raw {N}",
               rf"^query p50: ours {N} ms, raw {N} ms", rf"^query p95: ours {N} ms, raw {N} ms",
               rf"^  phrase: ours p50 {N} / p95 {N} ms", rf"^peak RSS: {N} MB"],
    "extract": [r"^multilingual: \d+ pages", r"^readability: \d+ pages", rf"^  all +\d+ +{N} +{N} +{N}",
                rf"^  worst page: .* ours {N} vs trafilatura {N}"],
    "detect": [rf"^detect benchmark: {N} pages captured", rf"^  load fingerprints .*: +{N} ms",
               rf"^  observe \+ classify, mean per page: +{N} ms", rf"^  ratio classify / capture: +{N}",
               r"^  outcomes: \{'ok': "],
    "capture": [rf"^capture benchmark: {N} pages", rf"^  archive, 1 at a time +{N} pages/min",
                rf"^  ratio archive / bare Playwright \(1 at a time\): +{N}", rf"^  WARC bytes written: {N}",
                rf"^  bytes stored per capture, all records: +dedup +{N} +no dedup +{N}"],
    "crawl": [rf"^crawl benchmark: {N} pages", rf"^  crawl, 1 worker\(s\) +{N} pages/min",
              rf"^  crawl, 2 worker\(s\) +{N} pages/min", rf"^  single captures, 1 worker +{N} pages/min",
              rf"^  ratio crawl / single captures \(1 worker\): {N}",
              rf"^frontier with {N} URLs: {N} inserts/s, {N} duplicate checks/s, peak RSS {N} MB"],
    "fidelity": [rf"^  {N}  http://news\.example\.com/$", rf"^replay fidelity over {N} pages: mean {N}, min {N}"],
    "orders": [rf"^rkn import benchmark: {N} rows, {N} MB dump \(Windows-1251\), batches of {N}",
               rf"^  baseline: bare read\+split {N} rows/s, {N} rows/CPU-s",
               rf"^  first import +{N} rows/s, {N} rows/CPU-s, ratio to baseline {N} \(CPU\) +"
               rf"\({N} orders added, 0 rejected\)",
               rf"^  same dump again {N} rows/s, {N} rows/CPU-s, ratio to baseline {N} \(CPU\) +"
               rf"\(0 added, 0 updated, 0 lifted\)",
               rf"^peak RSS: {N} MB"],
    "scale": [r"^scale benchmark \(a\): \d+ captures per run",
              rf"^  1 worker\(s\) +{N} captures/min +ratio to 1 worker {N}",
              rf"^scale benchmark \(b\): {N} captures",
              rf"^  by id +postgresql +{N} ms +sqlite +{N} ms +ratio postgresql/sqlite {N}",
              rf"^  nearest \+ records +postgresql +{N} ms .* ratio postgresql/sqlite {N}",
              rf"^  due watches +postgresql +{N} ms .* ratio postgresql/sqlite {N}"],
    "media": [rf"^media benchmark: page on \S+ with a {N} MB video",
              rf"^  browser only +capture +{N} s +WARC bytes {N} +media stored / source {N}",
              rf"^  browser \+ yt-dlp +capture +{N} s +WARC bytes {N} +media stored / source {N}",
              rf"^  ratio browser \+ yt-dlp / browser only: time {N}, bytes stored {N}"],
    "load": [rf"^requests: {N} in {N} s = {N}/s; errors: 0$", rf"^search +{N} +{N} +{N}",
             rf"^submissions: {N} accepted; jobs done {N}, failed 0, lost 0$"],
}


def test_every_benchmark_has_a_smoke_run():
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")}
    assert scripts == set(FIGURES)


def bench(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ELASTICSEARCH_URL"}  # the tantivy runs only
    return subprocess.run([sys.executable, str(ROOT / "bench" / f"{script}.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_benchmark_answers_help(script):
    proc = bench(script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: ") and "--smoke" in proc.stdout


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_benchmark_runs_at_smoke_size_and_prints_its_figures(script, request):
    if script == "fidelity":
        request.getfixturevalue("replay_viewer")  # replay needs replayweb.page: fail at once without it
    proc = bench(script, "--smoke", *(["--no-engine"] if script == "search" else []))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    missing = [pattern for pattern in FIGURES[script] if not re.search(pattern, proc.stdout, re.M)]
    assert not missing, f"{script} did not print {missing}:\n{proc.stdout}"
