"""The archive's text extraction against plain trafilatura.extract(), on the same bytes.

    python bench/extract.py [--pages N] [--corpus multilingual|readability|both]

Both corpora of ../shared/corpus: ``multilingual/`` (14 real non-English pages, some declaring no
charset) and ``readability/`` (130 real pages). Each page's bytes go to search.extract() (as a
capture gives them: the response payload and its Content-Type, here without a charset unless the
page's meta.json declares one) and to trafilatura.extract(). Scores, as the corpus README says:
multilingual pages compare non-space characters as multisets (F1 against expected.txt, recall
against a prefix; the share of snippet rules kept for expected_snippets.json); readability pages
compare words as multisets (F1 against expected.html's text), characters for languages written
without spaces. Prints per language the mean of each and the ratio, then per corpus; the target
is a ratio >= 1.00 and no page more than 0.05 below trafilatura. ``--pages 5`` is the smoke size.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402
from lxml import html as lxml_html  # noqa: E402

from search import extract  # noqa: E402
from tests.sites import SHARED  # noqa: E402

CORPORA = {"multilingual": SHARED / "corpus" / "multilingual", "readability": SHARED / "corpus" / "readability"}
# Written without spaces between words: scored by characters.
NO_SPACES = ("zh", "ja", "th", "lo", "km", "my")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PageScore:
    corpus: str
    name: str
    lang: str
    ours: float
    trafilatura: float


def chars(text: str) -> Counter:
    return Counter(ch for ch in text if not ch.isspace())


def words(text: str) -> Counter:
    return Counter(_WORD.findall(text.lower()))


def f1(reference: Counter, got: Counter) -> float:
    common = sum((reference & got).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(reference.values())
    return 2 * precision * recall / (precision + recall)


def score_multilingual(text: str, folder: Path) -> float:
    if (folder / "expected.txt").exists():
        return f1(chars((folder / "expected.txt").read_text(encoding="utf-8")), chars(text))
    if (folder / "expected_prefix.txt").exists():
        reference = chars((folder / "expected_prefix.txt").read_text(encoding="utf-8"))
        return sum((reference & chars(text)).values()) / max(1, sum(reference.values()))
    rules = json.loads((folder / "expected_snippets.json").read_text(encoding="utf-8"))
    flat = "".join(text.split())
    kept = [("".join(s.split()) in flat) for s in rules["with"]]
    kept += [("".join(s.split()) not in flat) for s in rules["without"]]
    return sum(kept) / len(kept)


def score_readability(text: str, folder: Path, lang: str) -> float:
    reference = lxml_html.fromstring((folder / "expected.html").read_bytes().decode("utf-8")).text_content()
    measure = chars if lang in NO_SPACES else words
    return f1(measure(reference), measure(text))


def page_scores(corpus: str, limit: int | None = None) -> list[PageScore]:
    """Both extractions of each page of ``corpus`` (the first ``limit`` pages), scored."""
    root = CORPORA[corpus]
    folders = sorted(p for p in root.iterdir() if (p / "source.html").is_file())[:limit]
    out = []
    for folder in folders:
        body = (folder / "source.html").read_bytes()
        if corpus == "multilingual":
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            lang, declared = meta["lang"], meta.get("declared_charset")
        else:
            meta = json.loads((folder / "expected-metadata.json").read_text(encoding="utf-8"))
            lang, declared = (meta.get("lang") or "").split("-")[0].lower() or "?", None
        content_type = f"text/html; charset={declared}" if declared else "text/html"
        ours = extract(body, f"http://{folder.name}.example.org/", content_type=content_type).text
        theirs = trafilatura.extract(body) or ""
        if corpus == "multilingual":
            scored = (score_multilingual(ours, folder), score_multilingual(theirs, folder))
        else:
            scored = (score_readability(ours, folder, lang), score_readability(theirs, folder, lang))
        out.append(PageScore(corpus, folder.name, lang, *scored))
    return out


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else (1.0 if not ours else float("inf"))


def report(scores: list[PageScore]) -> str:
    lines = []
    for corpus in dict.fromkeys(s.corpus for s in scores):
        mine = [s for s in scores if s.corpus == corpus]
        by_lang: dict[str, list[PageScore]] = defaultdict(list)
        for s in mine:
            by_lang[s.lang].append(s)
        lines.append(f"{corpus}: {len(mine)} pages")
        lines.append(f"  {'lang':6} {'pages':>5} {'ours':>7} {'trafil.':>7} {'ratio':>6}")
        for lang, group in sorted(by_lang.items()):
            a, b = _mean([s.ours for s in group]), _mean([s.trafilatura for s in group])
            lines.append(f"  {lang:6} {len(group):5d} {a:7.3f} {b:7.3f} {ratio(a, b):6.3f}")
        a, b = _mean([s.ours for s in mine]), _mean([s.trafilatura for s in mine])
        worst = min(mine, key=lambda s: s.ours - s.trafilatura)
        lines.append(f"  {'all':6} {len(mine):5d} {a:7.3f} {b:7.3f} {ratio(a, b):6.3f}")
        lines.append(f"  worst page: {worst.name} ours {worst.ours:.3f} vs trafilatura {worst.trafilatura:.3f}"
                     f" ({worst.ours - worst.trafilatura:+.3f})")
    return "\n".join(lines)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main(argv: list[str] | None = None) -> list[PageScore]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=None, help="only the first N pages of each corpus (smoke: 5)")
    p.add_argument("--corpus", choices=("multilingual", "readability", "both"), default="both")
    p.add_argument("--smoke", action="store_true", help="the first 5 pages of each corpus: seconds")
    args = p.parse_args(argv)
    if args.smoke:
        args.pages = 5
    started = time.perf_counter()
    names = list(CORPORA) if args.corpus == "both" else [args.corpus]
    scores = [s for corpus in names for s in page_scores(corpus, args.pages)]
    print(report(scores))
    print(f"({time.perf_counter() - started:.1f} s)")
    return scores


if __name__ == "__main__":
    main()
