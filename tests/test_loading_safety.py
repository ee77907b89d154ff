"""What the loader refuses to read, and how: paths outside the allowed folders, zip bombs, hostile JSON, and real
pages it must not refuse."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from core.data.loading import LoadOptions, load_bytes, load_paths
from core.errors import UserError
from core.workspace import Workspace
from tests.conftest import ROOT, SHARED, core_env, require

DATA = Path(__file__).parent / "data"


@pytest.fixture
def inbox(tmp_path) -> Path:
    root = tmp_path / "inbox"
    (root / "novels").mkdir(parents=True)
    (root / "novels" / "one.txt").write_text("The first novel, in one file.", "utf-8")
    return root.resolve()


# ---------------------------------------------------------------- the folder source


def test_paths_outside_the_roots_are_refused_with_the_roots_named(inbox):
    for outside in ["/etc", "/etc/hostname", inbox / ".." / "elsewhere", inbox.parent]:
        with pytest.raises(UserError) as refused:
            load_paths([outside], allowed_roots=[inbox])
        message = str(refused.value)
        assert "outside the folders the lab may read" in message and str(inbox) in message, message
        assert "QUILL_DATA_ROOTS" in message
    assert [d.text for d in load_paths([inbox / "novels"], allowed_roots=[inbox]).documents] == [
        "The first novel, in one file."
    ]


def test_a_link_out_of_a_root_is_not_followed(inbox, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("PRIVATE KEY", "utf-8")
    (inbox / "novels" / "key.txt").symlink_to(secret / "key.txt")
    (inbox / "novels" / "secrets").symlink_to(secret, target_is_directory=True)
    (inbox / "shortcut").symlink_to(secret, target_is_directory=True)

    result = load_paths([inbox / "novels"], allowed_roots=[inbox])
    assert "PRIVATE KEY" not in "".join(d.text for d in result.documents)
    reports = {r.name: r.error for r in result.files}
    assert reports == {"novels/key.txt": "outside the folders the lab may read", "novels/one.txt": None}
    for link in (inbox / "shortcut", inbox / "shortcut" / "key.txt", inbox / "novels" / "key.txt"):
        with pytest.raises(UserError, match="outside the folders the lab may read"):
            load_paths([link], allowed_roots=[inbox])
    # The command line reads what its user names: no roots there.
    assert load_paths([inbox / "shortcut"], allowed_roots=None).documents[0].text == "PRIVATE KEY"


def test_hidden_files_and_folders_are_skipped_at_every_level(inbox):
    for hidden in [".env.txt", ".git/config.txt", "novels/.notes.md", "novels/.cache/old.txt", "novels/deep/.x/y.txt"]:
        (inbox / hidden).parent.mkdir(parents=True, exist_ok=True)
        (inbox / hidden).write_text(f"hidden {hidden}", "utf-8")
    (inbox / "novels" / "deep" / "two.txt").write_text("The second novel.", "utf-8")
    result = load_paths([inbox], allowed_roots=[inbox])
    assert [r.name for r in result.files] == ["inbox/novels/deep/two.txt", "inbox/novels/one.txt"]
    for hidden in [inbox / ".git", inbox / ".env.txt", inbox / "novels" / ".cache" / "old.txt"]:
        with pytest.raises(UserError, match="hidden"):
            load_paths([hidden], allowed_roots=[inbox])


def test_the_file_count_and_size_caps(inbox):
    for i in range(4):
        (inbox / "novels" / f"more-{i}.txt").write_text("x" * 100, "utf-8")
    with pytest.raises(UserError, match="more than 3 files"):
        load_paths([inbox], LoadOptions(max_files=3), allowed_roots=[inbox])
    with pytest.raises(UserError, match=r"add up to 429 bytes, more than the 400 bytes"):
        load_paths([inbox], LoadOptions(max_total_bytes=400), allowed_roots=[inbox])
    assert len(load_paths([inbox], LoadOptions(max_files=5, max_total_bytes=429), allowed_roots=[inbox]).files) == 5


def test_data_roots_are_the_inbox_and_quill_data_roots(tmp_path, monkeypatch):
    corpora, texts = tmp_path / "corpora", tmp_path / "texts"
    corpora.mkdir()
    (tmp_path / "texts-link").symlink_to(corpora, target_is_directory=True)
    monkeypatch.setenv("QUILL_DATA_ROOTS", f"{tmp_path / 'texts-link'}{os.pathsep}{texts}{os.pathsep}")
    workspace = Workspace(tmp_path / "ws")
    assert workspace.data_roots() == [(tmp_path / "ws" / "inbox").resolve(), corpora.resolve(), texts.resolve()]
    assert workspace.inbox_dir.is_dir()  # made on first use, so there is somewhere to put files
    (corpora / "a.txt").write_text("allowed by QUILL_DATA_ROOTS", "utf-8")
    result = load_paths([tmp_path / "texts-link"], allowed_roots=workspace.data_roots())
    assert [d.text for d in result.documents] == ["allowed by QUILL_DATA_ROOTS"]


# ---------------------------------------------------------------- zip bombs


def _zip_of_copies(path: Path, member: bytes, count: int) -> None:
    """`count` deflated copies of `member`, written by hand (the zip format, APPNOTE 4.3): zipfile would deflate
    the same bytes `count` times, which takes half a minute for 2,040 MiB."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = deflate.compress(member) + deflate.flush()
    sizes = (zlib.crc32(member), len(packed), len(member))
    central = []
    with path.open("wb") as f:
        for i in range(count):
            name, offset = f"part-{i:04d}.txt".encode(), f.tell()
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, *sizes, len(name), 0) + name + packed)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, *sizes, len(name),
                                       0, 0, 0, 0, 0, offset) + name)
        directory = b"".join(central)
        start = f.tell()
        f.write(directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), start, 0))


MEASURE = """
import json, resource, sys
from core.data.loading import load_bytes
load_bytes("warm-up.zip", open(sys.argv[2], "rb").read())  # the imports a load makes, before measuring
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = load_bytes("bomb.zip", data)
growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"growth_mb": growth_kb / 1024, "documents": len(result.documents),
                  "errors": sorted({f.error for f in result.files})}))
"""


def test_2040_members_of_one_mib_are_refused_without_taking_memory(tmp_path):
    bomb = tmp_path / "bomb.zip"
    _zip_of_copies(bomb, b"0" * 1024**2, 2040)  # 2 GB unpacked; each member exactly 1 MiB
    with zipfile.ZipFile(bomb) as archive:  # a real zip: zipfile reads it back
        assert len(archive.infolist()) == 2040 and archive.read("part-0007.txt") == b"0" * 1024**2
    assert bomb.stat().st_size < 7 * 1024**2
    _zip_of_copies(tmp_path / "small.zip", "一首小诗。\n".encode() * 3, 2)
    out = subprocess.run([sys.executable, "-c", MEASURE, str(bomb), str(tmp_path / "small.zip")], cwd=ROOT,
                         env=core_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    measured = json.loads(out.stdout)
    assert measured["documents"] == 0
    assert len(measured["errors"]) == 1 and measured["errors"][0].startswith("suspicious compression ratio")
    assert measured["growth_mb"] < 200, measured


def test_the_ratio_applies_to_the_whole_zip_and_small_members_may_compress_well(tmp_path):
    # 400 members of 64 KiB each pass the per-member rule (the allowance); together they expand ~1000:1.
    _zip_of_copies(tmp_path / "many.zip", b"0" * 64 * 1024, 400)
    result = load_bytes("many.zip", (tmp_path / "many.zip").read_bytes())
    (report,) = result.files
    assert report.name == "many.zip" and result.documents == []
    assert report.error.startswith("suspicious compression ratio") and report.error.endswith("(the whole zip)")
    # Small files that compress far beyond 100:1 (a short poem repeated) are fine.
    _zip_of_copies(tmp_path / "poem.zip", "床前明月光，疑是地上霜。\n".encode() * 500, 3)
    poems = load_bytes("poem.zip", (tmp_path / "poem.zip").read_bytes())
    assert [f.error for f in poems.files] == [None, None, None] and len(poems.documents) == 3


def test_a_member_that_holds_more_than_it_declares_is_refused(tmp_path):
    _zip_of_copies(tmp_path / "liar.zip", b"a lie " * 200_000, 1)
    data = bytearray((tmp_path / "liar.zip").read_bytes())
    central = data.index(b"PK\x01\x02")
    for offset in (22, central + 24):  # the uncompressed size, in the local header and in the central directory
        struct.pack_into("<I", data, offset, 10)
    result = load_bytes("liar.zip", bytes(data))
    assert result.documents == []
    (report,) = result.files
    assert report.error.startswith(("damaged zip member", "zip member holds more")), report.error


# ---------------------------------------------------------------- hostile JSON


HOSTILE = {
    "nested.json": (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply to read"),
    "huge-int.json": (b'{"text": "x", "n": ' + b"9" * 5000 + b"}", "a number with more than 4300 digits, not text"),
    "huge-int.jsonl": (b'{"text": "fine"}\n{"text": 1' + b"0" * 5000 + b"}\n",
                       "line 2: a number with more than 4300 digits, not text"),
    "nested.jsonl": (b'{"text": "fine"}\n' + b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
                     "line 2: JSON nested too deeply to read"),
}


def test_hostile_json_skips_that_file_with_one_line_and_the_rest_load(tmp_path):
    for name, (data, _) in HOSTILE.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.txt").write_text("A good file still loads.", "utf-8")
    result = load_paths([tmp_path], allowed_roots=None)
    assert [d.text for d in result.documents] == ["A good file still loads."]
    errors = {Path(r.name).name: r.error for r in result.files if r.error}
    assert errors == {name: reason for name, (_, reason) in HOSTILE.items()}


def test_cli_clean_lists_hostile_json_as_skipped_and_fails_in_one_line_when_nothing_loads(tmp_path):
    (tmp_path / "in").mkdir()
    for name, (data, _) in HOSTILE.items():
        (tmp_path / "in" / name).write_bytes(data)
    (tmp_path / "in" / "good.txt").write_text("A good file, long enough to be kept by the quality filters. " * 5)
    run = [sys.executable, "-m", "core", "clean"]
    ok = subprocess.run([*run, str(tmp_path / "in"), "--out", str(tmp_path / "ds")], cwd=ROOT, env=core_env(),
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "error:" not in ok.stdout + ok.stderr and "Traceback" not in ok.stderr
    for name, (_, reason) in HOSTILE.items():
        assert f"skipped in/{name}: {reason}" in ok.stdout
    bad = subprocess.run([*run, str(tmp_path / "in" / "nested.json"), "--out", str(tmp_path / "ds2")], cwd=ROOT,
                         env=core_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "error: no documents could be read from the input: see the skipped files above"
    ]
    assert "skipped nested.json: JSON nested too deeply to read" in bad.stdout


# ---------------------------------------------------------------- binary and encoding guesses


def test_a_real_page_with_nul_bytes_loads():
    # lostiempos.com-juicio.html (trafilatura's evaluation set) has NUL bytes after an <img> tag.
    data = (DATA / "lostiempos.com-juicio.html").read_bytes()
    assert data.count(b"\x00") == 11
    result = load_bytes("lostiempos.com-juicio.html", data)
    (report,) = result.files
    assert (report.error, report.encoding, report.warning) == (None, "utf-8", "11 NUL bytes removed")
    assert "Tribunal Primero de Sentencia Anticorrupción" in result.documents[0].text
    assert "\x00" not in result.documents[0].text


def test_legacy_pages_with_a_declared_charset_and_stray_bytes():
    latin = '<html><head><meta charset="iso-8859-1"></head><body><p>“Señor” Muñoz — 5 €</p></body></html>'
    page = load_bytes("latin.html", latin.encode("cp1252"))  # what "iso-8859-1" means to a browser
    assert page.documents[0].text == latin and page.files[0].warning is None
    declared = b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    page = load_bytes("stray.html", declared + b"<p>caf\xe9\x00 cr\xe8me\x01</p><p>Recette de grand-m\xe8re.</p>")
    assert page.files[0].encoding == "cp1252" and "café crème" in page.documents[0].text
    assert page.files[0].warning == "1 NUL byte removed"
    lying = b'<meta charset="big5"><p>caf\xe9 cr\xe8me br\xfbl\xe9e, and more text around it</p>'
    assert load_bytes("lying.html", lying).files[0].warning.startswith("the page declares charset big5 but")
    for no_charset in ("zlib", "rot13", "unicode_escape"):  # python codecs, not charsets: ignored, and guessed
        odd = load_bytes("odd.html", f'<meta charset="{no_charset}"><p>caf\xe9 cr\xe8me</p>'.encode("latin-1"))
        assert odd.files[0].error is None and "crème" in odd.documents[0].text


def test_small_files_with_invalid_utf8_are_not_read_silently():
    # UTF-8 with a cut-off last character, or a stray cp1252 byte: UTF-8 with a replacement character, said so.
    cut = ("Ein schöner Tag in München.\n" * 3).encode()[:-2] + "ü".encode()[:1]
    report, document = load_bytes("cut.txt", cut).files[0], load_bytes("cut.txt", cut).documents[0]
    assert (report.encoding, report.warning) == ("utf-8", "1 invalid UTF-8 sequence replaced by \ufffd")
    assert document.text.startswith("Ein schöner Tag in München.") and document.text.endswith("\ufffd")
    # Too little to tell (was silently cp1006, Urdu): the guess is kept and reported.
    report = load_bytes("one-byte.txt", b"just ascii text and one byte \xff here\n").files[0]
    assert report.encoding == "cp1252" and report.warning.startswith("encoding guessed as cp1252 with low confidence")
    # UTF-8 text with a byte too many reads as mojibake under any single-byte code page: flagged as such.
    report = load_bytes("mixed.txt", "Hello, this is café au lait.\n".encode() + b"\xff end\n").files[0]
    assert report.warning.endswith("the text looks like mojibake")
    # A clear legacy file is no guess worth a warning.
    russian = ("Съешь же ещё этих мягких французских булок, да выпей чаю.\n" * 3).encode("cp1251")
    assert load_bytes("ru.txt", russian).files[0].warning is None


def test_binary_files_are_still_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 16
    assert load_bytes("image.html", png).files[0].error == "binary file (not text)"
    sqlite = b"SQLite format 3\x00" + b"\x10\x00\x01\x01" + bytes(4000)
    assert load_bytes("db.txt", sqlite).files[0].error == "binary file (not text)"


def test_the_shared_real_pages_still_load():
    pages = sorted((SHARED / "data" / "html").glob("*.html"))
    require(len(pages) == 9, "../shared/data/html is missing")
    result = load_paths(pages, allowed_roots=None)
    assert [(r.error, r.encoding, r.warning) for r in result.files] == [(None, "utf-8", None)] * 9
    assert len(result.documents) == 9
