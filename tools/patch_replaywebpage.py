"""Fix replayweb.page 2.5.3's mojibake on pages whose <meta charset> comes late.

wabac.js decides a page's charset from the Content-Type header or the first
1024 bytes; failing both it streams the page out as latin1 bytes, which lets
the browser find the charset itself, as it did at capture time. But when its
HTML rewriter then meets a late `<meta charset="utf-8">`, it flips the
rewriter's UTF-8 flag mid-stream, and every later chunk is encoded as UTF-8
from latin1-decoded text: each non-ASCII character is double-encoded. This
patch stops that flip, so the page's bytes reach the browser unchanged.

The edit is exact: the script fails unless the pattern occurs once (or the
file is already patched), so a new upstream version cannot be patched blindly.
Usage: python3 tools/patch_replaywebpage.py vendor/replaywebpage-X/sw.js
"""
from __future__ import annotations

import sys
from pathlib import Path

BUGGY = 'else if("meta"===i&&"charset"===a)c&&jo.includes(c.toLowerCase())&&(this.isCharsetUTF8=!0);'
FIXED = 'else if("meta"===i&&"charset"===a);'


def patch(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    count = text.count(BUGGY)
    if count == 0 and FIXED in text:
        return "already patched"
    if count != 1:
        raise SystemExit(f"{path}: expected the late-meta-charset code once, found it {count} times; "
                         "this replayweb.page version needs the patch reviewed (tools/patch_replaywebpage.py)")
    path.write_text(text.replace(BUGGY, FIXED), encoding="utf-8")
    return "patched"


if __name__ == "__main__":
    target = Path(sys.argv[1])
    print(f"{target}: {patch(target)}")
