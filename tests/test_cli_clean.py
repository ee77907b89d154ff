"""`python -m core clean`: the sample corpus into a dataset directory, with the report the issue asks for."""

import json
import zipfile

from core.data.corpus import manifest, sample_files
from tests.conftest import run_core


def test_clean_the_sample_corpus(tmp_path):
    out = tmp_path / "sample-ds"
    result = run_core("clean", *map(str, sample_files()), "--out", str(out),
                      "--text-field", "text", "--text-field", "title", "--text-field", "paragraphs")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"data.jsonl", "validation.jsonl", "recipe.json", "report.json", "README.md"}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    documents = sum(entry["documents"] for entry in manifest())
    assert report["docs_in"] == documents
    steps = {s["name"]: s for s in report["steps"]}
    assert set(steps) >= {"html_to_text", "fix_mojibake", "normalize_width", "normalize_whitespace", "exact_dedup", "near_dedup"}
    assert not set(steps) & {"convert_chinese", "language_filter"}
    for step in report["steps"]:
        assert {"name", "docs_in", "docs_out", "chars_in", "chars_out"} <= set(step)
    planted = [p for e in manifest() for p in e.get("planted", [])]
    exact = sum(p.startswith(("exact_duplicate_of", "whitespace_duplicate_of")) for p in planted)
    near = sum(p.startswith("near_duplicate_of") for p in planted)
    assert steps["exact_dedup"]["docs_in"] - steps["exact_dedup"]["docs_out"] == exact
    assert steps["near_dedup"]["docs_in"] - steps["near_dedup"]["docs_out"] == near
    kept = [json.loads(line)["text"] for part in ("data", "validation") for line in (out / f"{part}.jsonl").open(encoding="utf-8")]
    assert len(kept) == report["docs_out"]
    assert not any("<footer" in text or "Share this article" in text or "cafÃ©" in text for text in kept)
    assert "cleaned" in result.stdout and "saved to" in result.stdout


def test_recipe_file_and_zip_input(tmp_path):
    recipe = {"steps": [{"name": "convert_chinese", "params": {"direction": "t2s"}},
                        {"name": "normalize_whitespace", "params": {"join_lines": True}}]}
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    with zipfile.ZipFile(tmp_path / "poems.zip", "w") as archive:
        archive.writestr("唐詩/靜夜思.txt", "床前明月光，\n疑是地上霜。".encode("big5"))
        archive.writestr("../escape.txt", "nope")
    result = run_core("clean", str(tmp_path / "poems.zip"), "--out", str(tmp_path / "ds"), "--recipe", str(tmp_path / "recipe.json"))
    assert result.returncode == 0, result.stderr
    assert "skipped poems.zip/../escape.txt: unsafe path in zip" in result.stdout
    texts = [json.loads(line)["text"] for part in ("data", "validation") for line in (tmp_path / "ds" / f"{part}.jsonl").open(encoding="utf-8")]
    assert "".join(texts) == "床前明月光，疑是地上霜。"  # one poem: split by position, joined back here


def test_bad_input_is_one_error_line(tmp_path):
    (tmp_path / "bad-recipe.json").write_text('{"steps": [{"name": "shout"}]}')
    (tmp_path / "a.txt").write_text("some text that is long enough to be kept around")
    (tmp_path / "empty.txt").write_text("")
    cases = [
        ("clean", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o1")),
        ("clean", str(tmp_path / "a.txt"), "--out", str(tmp_path / "o2"), "--recipe", str(tmp_path / "bad-recipe.json")),
        ("clean", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "o3")),
        ("clean", str(tmp_path / "a.txt")),
    ]
    for args in cases:
        result = run_core(*args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    ok = run_core("clean", str(tmp_path / "a.txt"), "--out", str(tmp_path / "o4"))
    again = run_core("clean", str(tmp_path / "a.txt"), "--out", str(tmp_path / "o4"))
    assert ok.returncode == 0 and again.returncode != 0 and "already exists" in again.stderr


def test_text_fields_repeated_or_as_a_comma_list_and_a_preset(tmp_path):
    poems = [{"title": f"第{i}首", "author": "佚名", "body": [f"第{i}首的第一句，", "和第二句。"]} for i in range(12)]
    (tmp_path / "poems.json").write_text(json.dumps(poems, ensure_ascii=False), encoding="utf-8")
    texts = {}
    ways = {"comma": ["--text-field", "title, body"], "repeated": ["--text-field", "title", "--text-field", "body"]}
    for name, flags in ways.items():
        result = run_core("clean", str(tmp_path / "poems.json"), "--out", str(tmp_path / name), "--preset", "verse",
                          *flags)
        assert result.returncode == 0, result.stderr
        texts[name] = sorted(json.loads(line)["text"] for part in ("data", "validation")
                             for line in (tmp_path / name / f"{part}.jsonl").open(encoding="utf-8"))
        recipe = json.loads((tmp_path / name / "recipe.json").read_text(encoding="utf-8"))
        assert {s["name"]: s["enabled"] for s in recipe["steps"]}["remove_boilerplate_lines"] is False  # the verse preset
    assert texts["comma"] == texts["repeated"] and "第0首\n第0首的第一句，\n和第二句。" in texts["comma"]
    # Without flags the default fields are read: "body" is not among them, so only the titles come.
    report = run_core("clean", str(tmp_path / "poems.json"), "--out", str(tmp_path / "default"))
    assert report.returncode == 0, report.stderr
    files = json.loads((tmp_path / "default" / "report.json").read_text(encoding="utf-8"))["files"]
    assert files[0]["read_fields"] == ["title"] and files[0]["fields"] == ["title", "author", "body"]
    both = run_core("clean", str(tmp_path / "poems.json"), "--out", str(tmp_path / "x"), "--preset", "verse",
                    "--recipe", "r.json")
    assert both.returncode != 0 and both.stderr.startswith("error: give --recipe or --preset, not both")
