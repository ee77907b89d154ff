"""Loading raw text: encodings detected on real Chinese text, every format, zip safety, the sample corpus."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest

from core.data.decoding import decode
from core.data.loading import TEXT_FIELDS, LoadOptions, field_names, load_bytes, load_paths
from core.errors import UserError
from tests.conftest import ROOT, SHARED, require

POETRY = SHARED / "data" / "zh-poetry"
SAMPLE = ROOT / "core" / "data" / "corpus" / "sample"
GB_FAMILY = {"gb2312", "gbk", "gb18030"}
BIG5_FAMILY = {"big5", "big5hkscs", "cp950"}


def _poem_lines(file_name: str, key: str, poems: int = 40) -> list[str]:
    require(SHARED.exists(), "../shared is missing")
    return [line for poem in json.loads((POETRY / file_name).read_text("utf-8"))[:poems] for line in poem[key]]


def _encodable(lines: list[str], encoding: str) -> list[str]:
    """The lines a legacy codec can hold (a few Tang poems use characters Big5 lacks)."""
    kept = []
    for line in lines:
        try:
            line.encode(encoding, errors="strict")
            kept.append(line)
        except UnicodeEncodeError:
            pass
    return kept


def _texts() -> dict[str, str]:
    return {
        "song": "\n".join(_poem_lines("宋词三百首.json", "paragraphs")),
        "shijing": "\n".join(_poem_lines("shijing.json", "content")),
        "tang": "\n".join(_encodable(_poem_lines("poet.tang.0.json", "paragraphs"), "big5")),
    }


# (text, how to encode it, the encoding families decode() may report)
CASES = [
    ("song", "gbk", GB_FAMILY),
    ("shijing", "gbk", GB_FAMILY),
    ("song", "gb18030", GB_FAMILY),
    ("tang", "gb18030", GB_FAMILY),
    ("tang", "big5", BIG5_FAMILY),
    ("song", "utf-16", {"utf-16"}),  # Python's utf-16 writes a BOM
    ("shijing", "utf-16-le", {"utf-16-le"}),  # no BOM: found from the bytes
    ("tang", "utf-16-be", {"utf-16-be"}),
    ("song", "utf-8-sig", {"utf-8-sig"}),
    ("shijing", "utf-8", {"utf-8"}),
]


@pytest.mark.parametrize("text_name, encoding, family", CASES, ids=[f"{t}-{e}" for t, e, _ in CASES])
def test_decode_gives_back_real_chinese_text(text_name, encoding, family):
    original = _texts()[text_name]
    assert len(original) > 1000
    text, found, _ = decode(original.encode(encoding))
    assert text == original
    assert found in family


@pytest.mark.parametrize("encoding, file_name", [("gbk", "宋词三百首.json"), ("big5", "poet.tang.0.json")])
def test_decode_single_short_lines(encoding, file_name):
    # One line is where charset-normalizer alone guesses Korean, Thai or UTF-16 for Chinese bytes.
    lines = _encodable(_poem_lines(file_name, "paragraphs"), encoding)[:60]
    wrong = [line for line in lines if decode(line.encode(encoding))[0] != line]
    assert len(wrong) <= 2, wrong  # a few characters' worth of bytes can be read more than one way


def test_decode_rejects_binary_and_empty():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(4000)
    with pytest.raises(UserError, match="binary file"):
        decode(png)
    with pytest.raises(UserError, match="binary file"):
        decode(b"text with \x01\x02\x03\x04\x05\x06\x07\x08 controls \x0e\x0f\x10\x11\x12")
    for empty in (b"", b"  \n\t\r\n ", "\n".encode("utf-16")):
        with pytest.raises(UserError, match="empty file"):
            decode(empty)
    assert decode(b"plain ascii\n") == ("plain ascii\n", "utf-8", None)


def test_json_objects_with_title_and_paragraphs(tmp_path):
    poems = [
        {"title": "静夜思", "author": "李白", "paragraphs": ["床前明月光，疑是地上霜。", "举头望明月。"]},
        {"title": "空", "paragraphs": []},
        {"author": "无名", "paragraphs": ["只有正文。"]},
    ]
    (tmp_path / "poems.json").write_text(json.dumps(poems, ensure_ascii=False), "utf-8")
    result = load_paths([tmp_path / "poems.json"], LoadOptions(text_fields=["title", "paragraphs"]), allowed_roots=None)
    assert [d.text for d in result.documents] == ["静夜思\n床前明月光，疑是地上霜。\n举头望明月。", "空", "只有正文。"]
    assert [d.source for d in result.documents] == ["poems.json#1", "poems.json#2", "poems.json#3"]
    (report,) = result.files
    assert (report.format, report.encoding, report.documents, report.error) == ("json", "utf-8", 3, None)
    assert report.fields == ["title", "author", "paragraphs"]
    assert report.chars == sum(len(d.text) for d in result.documents)

    # A missing field: the file is skipped, and the report still lists the fields to choose from.
    report = load_paths([tmp_path / "poems.json"], LoadOptions(text_fields=["body"]), allowed_roots=None).files[0]
    assert report.error == "no field 'body' in the objects: fields are title, author, paragraphs"
    assert report.fields == ["title", "author", "paragraphs"] and report.documents == 0


def test_default_fields_read_a_poem_collection_and_the_report_says_which(tmp_path):
    poems = [{"title": f"第{i}首", "author": "李白", "paragraphs": [f"第{i}首的正文。"]} for i in range(1, 6)]
    (tmp_path / "poems.json").write_text(json.dumps(poems, ensure_ascii=False), "utf-8")
    assert LoadOptions().text_fields == list(TEXT_FIELDS) == ["text", "title", "paragraphs", "content"]
    result = load_paths([tmp_path / "poems.json"], allowed_roots=None)
    assert [d.text for d in result.documents][:2] == ["第1首\n第1首的正文。", "第2首\n第2首的正文。"]
    (report,) = result.files
    assert report.read_fields == ["title", "paragraphs"]  # in the order they are joined; "author" is not read
    assert report.preview == ["第1首\n第1首的正文。", "第2首\n第2首的正文。", "第3首\n第3首的正文。"]
    (tmp_path / "t.csv").write_text("id,body\n1," + "长" * 300 + "\n", "utf-8")
    csv_report = load_paths([tmp_path / "t.csv"], LoadOptions(csv_column="body"), allowed_roots=None).files[0]
    assert csv_report.read_fields == ["body"] and csv_report.preview == ["长" * 200]


def test_field_names_from_comma_lists():
    assert field_names(["title, paragraphs"]) == field_names(["title", "paragraphs"]) == ["title", "paragraphs"]
    assert field_names(["text,", " content ", "a,b"]) == ["text", "content", "a", "b"]


def test_json_shapes():
    strings = load_bytes("a.json", json.dumps(["one", "", "two"]).encode())
    assert [d.text for d in strings.documents] == ["one", "two"]  # empty documents are not counted
    wrapped = load_bytes("b.json", json.dumps({"meta": "x", "items": [{"text": "hi"}, {"text": "yo"}]}).encode())
    assert [d.text for d in wrapped.documents] == ["hi", "yo"]
    single = load_bytes("c.json", json.dumps({"text": "alone"}).encode())
    assert [d.text for d in single.documents] == ["alone"]
    broken = load_bytes("d.json", b'{"text": ')
    assert broken.files[0].error.startswith("not valid JSON")


def test_real_shijing_loads_title_and_content():
    require(SHARED.exists(), "../shared is missing")
    objects = json.loads((POETRY / "shijing.json").read_text("utf-8"))
    result = load_paths([POETRY / "shijing.json"], LoadOptions(text_fields=["title", "content"]), allowed_roots=None)
    assert len(result.documents) == len(objects) == result.files[0].documents
    first = objects[0]
    assert result.documents[0].text == "\n".join([first["title"], *first["content"]])


def test_jsonl_bad_line_fails_that_file_only(tmp_path):
    (tmp_path / "a-good.jsonl").write_text('{"text": "first"}\n\n{"text": "second", "n": 2}\n', "utf-8")
    (tmp_path / "b-bad.jsonl").write_text('{"text": "ok"}\n\n{"text": oops}\n', "utf-8")
    result = load_paths([tmp_path], allowed_roots=None)
    good_name = f"{tmp_path.name}/a-good.jsonl"
    assert [(d.text, d.source) for d in result.documents] == [("first", f"{good_name}#1"), ("second", f"{good_name}#3")]
    good, bad = result.files
    assert good.fields == ["text", "n"] and good.documents == 2
    assert bad.error.startswith("line 3 is not valid JSON") and bad.documents == 0


def test_csv_column(tmp_path):
    (tmp_path / "t.csv").write_text('id,body\n1,"Hello, world"\n2,"two\nlines"\n3,\n', "utf-8")
    result = load_paths([tmp_path / "t.csv"], LoadOptions(csv_column="body"), allowed_roots=None)
    assert [d.text for d in result.documents] == ["Hello, world", "two\nlines"]
    assert result.files[0].fields == ["id", "body"]
    missing = load_paths([tmp_path / "t.csv"], allowed_roots=None).files[0]
    assert missing.error == "no column 'text' in the CSV: columns are id, body" and missing.fields == ["id", "body"]


def test_txt_split_modes(tmp_path):
    text = "Title line\r\nsecond line\r\n   \r\n\r\n\u3000\u3000Indented paragraph.\r\n \r\nLast one.\r\n"
    (tmp_path / "novel.txt").write_bytes(text.encode("utf-8"))
    whole = load_paths([tmp_path / "novel.txt"], allowed_roots=None)
    assert [d.text for d in whole.documents] == [text.replace("\r\n", "\n")]
    assert whole.documents[0].source == "novel.txt"
    paragraphs = load_paths([tmp_path / "novel.txt"], LoadOptions(txt_split="paragraphs"), allowed_roots=None)
    paragraphs = paragraphs.documents
    assert [d.text for d in paragraphs] == ["Title line\nsecond line", "\u3000\u3000Indented paragraph.", "Last one."]
    assert [d.source for d in paragraphs] == ["novel.txt#p1", "novel.txt#p2", "novel.txt#p3"]
    lines = load_paths([tmp_path / "novel.txt"], LoadOptions(txt_split="lines"), allowed_roots=None).documents
    assert [d.text for d in lines] == ["Title line", "second line", "\u3000\u3000Indented paragraph.", "Last one."]


def test_bad_files_are_listed_and_the_rest_load(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000))
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.7\n")
    (tmp_path / "good.md").write_text("# Fine\n", "utf-8")
    (tmp_path / ".hidden.txt").write_text("not me", "utf-8")
    result = load_paths([tmp_path], allowed_roots=None)
    errors = {r.name.split("/")[-1]: r.error for r in result.files}
    assert errors == {
        "empty.txt": "empty file",
        "good.md": None,
        "image.txt": "binary file (not text)",
        "paper.pdf": "unsupported format .pdf: use txt, md, html, jsonl, json, csv, parquet or zip",
    }
    assert [d.text for d in result.documents] == ["# Fine\n"]
    with pytest.raises(UserError, match="no such file"):
        load_paths([tmp_path / "missing.txt"], allowed_roots=None)


def test_html_is_kept_raw():
    html = "<html><body><p>你好</p></body></html>"
    result = load_bytes("page.htm", html.encode("gb18030"))
    assert [d.text for d in result.documents] == [html] and result.files[0].format == "html"


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def test_zip_members_safety_and_bombs(monkeypatch):
    inner = _zip({"deep.txt": b"from the nested zip", "deeper.zip": _zip({"x.txt": b"too deep"})})
    archive = _zip(
        {
            "corpus/gbk.txt": "山中三日，雨声不断。".encode("gbk") * 20,
            "corpus/notes.md": b"# notes",
            "../evil.txt": b"escape",
            "/etc/passwd.txt": b"absolute",
            "__MACOSX/corpus/._gbk.txt": b"\x00\x05\x16\x07",
            "corpus/.DS_Store": b"\x00\x00",
            "corpus/": b"",
            "bomb.txt": bytes(50 * 1024**2),  # 50 MB of zeros deflate about 1000:1
            "readme.pdf": b"%PDF",
            "inner.zip": inner,
        }
    )
    assert len(archive) < 200_000
    opened = []
    real_open = zipfile.ZipFile.open

    def recording_open(self, member, *args, **kwargs):
        opened.append(getattr(member, "filename", member))
        return real_open(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)

    result = load_bytes("corpus.zip", archive)
    reports = {r.name: r for r in result.files}
    assert reports["corpus.zip/corpus/gbk.txt"].encoding in GB_FAMILY
    assert result.documents[0].text == "山中三日，雨声不断。" * 20
    assert result.documents[0].source == "corpus.zip/corpus/gbk.txt"
    assert reports["corpus.zip/../evil.txt"].error == "unsafe path in zip"
    assert reports["corpus.zip//etc/passwd.txt"].error == "unsafe path in zip"
    assert reports["corpus.zip/bomb.txt"].error.startswith("suspicious compression ratio")
    assert reports["corpus.zip/readme.pdf"].error.startswith("unsupported format .pdf")
    assert reports["corpus.zip/inner.zip/deep.txt"].error is None
    assert reports["corpus.zip/inner.zip/deeper.zip"].error.startswith("zip inside a nested zip")
    assert [d.text for d in result.documents] == ["山中三日，雨声不断。" * 20, "# notes", "from the nested zip"]
    assert not any("MACOSX" in name or "DS_Store" in name for name in reports)
    assert "bomb.txt" not in opened and "../evil.txt" not in opened  # rejected before a byte was unpacked


def test_zip_total_size_cap():
    archive = _zip({"a.txt": b"a" * 800, "b.txt": b"b" * 800}, zipfile.ZIP_STORED)
    result = load_bytes("big.zip", archive, LoadOptions(max_zip_total_bytes=1000))
    assert result.documents == []
    (report,) = result.files
    assert report.name == "big.zip" and report.error.startswith("zip too large when unpacked")
    assert len(load_bytes("big.zip", archive).documents) == 2
    assert load_bytes("broken.zip", b"PK not really").files[0].error == "not a valid zip file"


def test_sample_corpus_by_manifest():
    manifest = json.loads((SAMPLE / "manifest.json").read_text("utf-8"))
    families = {
        "utf-8": {"utf-8"}, "utf-8-sig": {"utf-8-sig"}, "utf-16": {"utf-16", "utf-16-le"},
        "gbk": GB_FAMILY, "big5": BIG5_FAMILY,
    }
    jsonl_fields = {"en": ["text"], "zh": ["title", "paragraphs"]}
    for entry in manifest:
        options = LoadOptions(text_fields=jsonl_fields[entry["language"]])
        result = load_paths([SAMPLE / entry["file"]], options, allowed_roots=None)
        (report,) = result.files
        assert report.error is None, entry["file"]
        assert report.format == entry["format"], entry["file"]
        assert report.encoding in families[entry["encoding"]], (entry["file"], report.encoding)
        assert report.documents == len(result.documents) == entry["documents"], entry["file"]
    for name, start in [("zh-12-suibi-chaguan-big5.txt", "茶館裡的光陰"),
                        ("zh-11-lvxing-shanzhong-sanri-gbk.txt", "山中三日")]:
        assert load_paths([SAMPLE / name], allowed_roots=None).documents[0].text.startswith(start)
