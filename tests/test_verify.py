"""`python -m archive verify`: digests and the catalog checked against the WARC files on disk."""
from __future__ import annotations

import gzip
import itertools
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import lxml.html
import pytest

from archive import catalog
from archive.warc.verify import digest_bytes, hex_digest

from .conftest import run_cli, warcio_check
from .test_wacz import OTHER, TEXT, TITLE, URL, add_revisit_capture, cli_env


@pytest.fixture
def archive(archive_builder):
    """Two captures and a revisit of the first, in one finished WARC file."""
    first = archive_builder.add(URL, TITLE, TEXT, lang="ru")
    second = archive_builder.add(*OTHER)
    third = add_revisit_capture(archive_builder, first)
    return archive_builder, (first, second, third)


def verify(settings, *args: str):
    proc = run_cli(cli_env(settings), "verify", *args)
    return proc.returncode, proc.stdout, proc.stderr


def warc_path(settings, ref: catalog.RecordRef) -> Path:
    return next(p for p in settings.warc_dir.iterdir() if p.name.startswith(ref.warc_file))


def ref_of(builder, capture_id: int, role: str) -> catalog.RecordRef:
    return catalog.get_records(builder.db, capture_id, role=role)[0]


def rewrite_member(path: Path, ref: catalog.RecordRef, changes: list[tuple[bytes, bytes]]) -> bytes:
    """Make one of ``changes`` (old, new: one byte apart) inside a record, recompressed in place.

    The member must keep its length, so the first change that deflates no longer than the original
    is taken; the gzip header pads it back: an empty file name (FNAME) for one byte, an extra field
    (FEXTRA) for more. Returns the new text.
    """
    data = path.read_bytes()
    record = gzip.decompress(data[ref.offset:ref.offset + ref.length])
    for (old, new), level, mem_level in itertools.product(changes, range(9, -1, -1), range(9, 0, -1)):
        assert record.count(old) == 1 and len(old) == len(new)
        changed = record.replace(old, new)
        deflater = zlib.compressobj(level, zlib.DEFLATED, 31, mem_level)
        member = deflater.compress(changed) + deflater.flush()
        if len(member) <= ref.length:
            break
    else:
        raise AssertionError("no change deflates back into the record's place")
    pad = ref.length - len(member)
    if pad == 1:
        member = member[:3] + bytes([member[3] | 0x08]) + member[4:10] + b"\0" + member[10:]
    elif pad:
        member = member[:3] + bytes([member[3] | 0x04]) + member[4:10] + (pad - 2).to_bytes(2, "little") \
            + b"\0" * (pad - 2) + member[10:]
    assert len(member) == ref.length and gzip.decompress(member) == changed
    path.write_bytes(data[:ref.offset] + member + data[ref.offset + ref.length:])
    return new


def test_clean_archive_verifies(archive, web_settings):
    builder, ids = archive
    # While the WARC file is still open, and once it is closed.
    code, out, err = verify(web_settings)
    assert code == 0, out + err
    builder.writer.close()
    code, out, err = verify(web_settings)
    assert code == 0, out + err
    records = {(r.warc_file, r.offset) for i in ids for r in catalog.get_records(builder.db, i)}
    assert f"{len(records)} records in 1 WARC file checked ({len(records)} in the catalog, for 3 captures)" in out
    assert "all digests and catalog entries match" in out
    assert "webtest-" in err  # progress names each file
    code, out, _ = verify(web_settings, "--capture", str(ids[2]))
    assert code == 0 and "for 1 capture)" in out


def test_flipped_payload_byte_is_named(archive, web_settings):
    builder, (first, second, third) = archive
    builder.writer.close()
    main = ref_of(builder, first, "main")
    path = warc_path(web_settings, main)
    rewrite_member(path, main, [(b"September 2023", b"September 202" + bytes([d])) for d in b"4567890128"])
    with pytest.raises(AssertionError, match="payload digest failed"):
        warcio_check([path])  # the independent tool agrees something is wrong

    for args in ((), ("--capture", str(first))):
        code, out, _ = verify(web_settings, *args)
        assert code == 1
        problems = [line for line in out.splitlines() if line.startswith(main.warc_file)]
        where = f"{main.warc_file} offset {main.offset} {main.record_id}: "
        # The page's record is also the original of the third capture's revisit, when all are checked.
        affected = f"[capture {first}]" if args else f"[captures {first}, {third}]"
        assert f"{where}payload digest failed: {main.payload_digest} does not match the payload {affected}" \
            in problems
        assert f"{where}block digest failed: {main.block_digest} does not match the block {affected}" in problems
        assert all(line.startswith(where) for line in problems), problems
        assert "2 problem(s)" in out
    code, out, _ = verify(web_settings, "--capture", str(second))
    assert code == 0, out


def test_corrupt_gzip_member_is_named_and_the_rest_still_checked(archive, web_settings):
    builder, (first, second, third) = archive
    builder.writer.close()
    dom = ref_of(builder, first, "dom")
    path = warc_path(web_settings, dom)
    data = bytearray(path.read_bytes())
    data[dom.offset + dom.length // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    for args in ((), ("--capture", str(first))):
        code, out, _ = verify(web_settings, *args)
        assert code == 1
        problems = [line for line in out.splitlines() if line.startswith(dom.warc_file)]
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"{dom.warc_file} offset {dom.offset} {dom.record_id}: ")
        assert "gzip" in problems[0]
    # Every other record was still read: those after the damaged one too.
    total = len({(r.warc_file, r.offset) for i in (first, second, third) for r in catalog.get_records(builder.db, i)})
    code, out, _ = verify(web_settings)
    assert f"{total - 1} records in 1 WARC file checked" in out
    assert verify(web_settings, "--capture", str(second))[0] == 0


def test_catalog_mismatches_are_named(archive, web_settings):
    builder, (first, second, third) = archive
    builder.writer.close()
    text = ref_of(builder, second, "text")
    screenshot = ref_of(builder, second, "screenshot")
    wrong = "sha256:" + "A" * 52 + "===="
    builder.db.execute("UPDATE records SET payload_digest = ? WHERE record_id = ?", (wrong, text.record_id))
    builder.db.execute("UPDATE records SET offset = offset + 7 WHERE record_id = ?", (screenshot.record_id,))
    builder.db.execute("UPDATE captures SET sha256 = ? WHERE id = ?", ("0" * 64, first))

    code, out, _ = verify(web_settings)
    assert code == 1
    lines = out.splitlines()
    assert f"{text.warc_file} offset {text.offset} {text.record_id}: catalog says payload digest {wrong}, " \
           f"the WARC has {text.payload_digest} [capture {second}]" in lines
    moved = f"{screenshot.warc_file} offset {screenshot.offset + 7} {screenshot.record_id}: "
    assert any(line.startswith(moved) and "no record starts here" in line for line in lines), out
    main = ref_of(builder, first, "main")
    assert any(line.startswith(f"{main.warc_file} offset {main.offset} {main.record_id}: capture {first}'s SHA-256 "
                               + "0" * 64) for line in lines), out
    assert "3 problem(s)" in out

    code, out, _ = verify(web_settings, "--capture", str(second))
    assert code == 1
    assert any(line.startswith(moved) for line in out.splitlines()), out
    assert verify(web_settings, "--capture", str(first))[0] == 1


def test_revisit_block_digest_is_checked(archive, web_settings):
    builder, (_, _, third) = archive
    builder.writer.close()
    revisit = ref_of(builder, third, "main")
    assert revisit.record_type == "revisit"
    rewrite_member(warc_path(web_settings, revisit), revisit,
                   [(b"200 OK", b"200 " + bytes([a, b])) for a in b"OoKk" for b in b"OoKk" if (a, b) != (79, 75)])
    code, out, _ = verify(web_settings, "--capture", str(third))
    assert code == 1
    assert f"{revisit.warc_file} offset {revisit.offset} {revisit.record_id}: block digest failed" in out


def test_missing_file_and_unknown_capture(archive, web_settings):
    builder, (first, _, _) = archive
    builder.writer.close()
    main = ref_of(builder, first, "main")
    warc_path(web_settings, main).unlink()
    code, out, _ = verify(web_settings)
    assert code == 1
    assert f"{main.warc_file} " in out and "WARC file is missing" in out
    code, _, err = verify(web_settings, "--capture", "999")
    assert code == 2 and "there is no capture 999" in err


def test_digest_forms():
    value = "sha256:E2U26MR7BP3TVK6ADTOEYQ3RR4WCGJDDURFJEQMLB2RAD62UPPJA===="
    hexed = hex_digest(value)
    assert len(hexed) == 64
    assert digest_bytes(f"sha256:{hexed}") == digest_bytes(value) == ("sha256", bytes.fromhex(hexed))
    with pytest.raises(ValueError):
        digest_bytes("sha256:not-a-digest")


@pytest.mark.parametrize("which", [0, 2], ids=["response", "revisit"])
def test_record_page_verification_commands_work(archive, web_server, which, tmp_path):
    """Run the commands the record page gives, as a reader would, on the files it links."""
    builder, ids = archive
    capture_id = ids[which]
    page = lxml.html.fromstring(web_server.get(f"/capture/{capture_id}").text)
    section = page.get_element_by_id("verify")
    for link in section.xpath(".//a[@download]"):
        r = web_server.get(link.get("href"))
        name = re.search(r'filename="([^"]+)"', r.headers["Content-Disposition"]).group(1)
        assert f"<code>{name}</code>" in lxml.html.tostring(section, encoding="unicode")
        (tmp_path / name).write_bytes(r.content)
    assert len(section.xpath(".//a[@download]")) == 2

    def run(code_id: str) -> str:
        command = page.get_element_by_id(code_id).text_content()
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, command + "\n" + proc.stdout + proc.stderr
        return proc.stdout

    checked = run("verify-warc")
    records = catalog.get_records(builder.db, capture_id, with_originals=True)
    assert checked.count("digest pass") == len([r for r in records if r.record_type != "revisit"])
    assert "the passed WACZ is valid" in run("verify-wacz")
    sha256 = catalog.get_capture(builder.db, capture_id)["sha256"]
    assert page.get_element_by_id("verify-page-sha256").text_content() == sha256
    assert run("verify-page").split()[0] == sha256
    assert run("verify-hex").strip() == sha256
