"""The sample corpus written for this project: English and Chinese documents in several formats and encodings,
with planted defects (HTML boilerplate, duplicates, mojibake, full-width text) for the cleaning pages to find.

`manifest.json` beside the files says, per file, its format, encoding, language and planted defects.
"""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE_DIR = Path(__file__).parent / "sample"


def manifest() -> list[dict]:
    return json.loads((SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))


def sample_files() -> list[Path]:
    return [SAMPLE_DIR / entry["file"] for entry in manifest()]


def sample_texts() -> list[str]:
    """The corpus as plain text, one string per document: enough to train the starter's tokenizer."""
    # lazy: selectolax takes ~10 ms to import, and only this path needs it
    from selectolax.lexbor import LexborHTMLParser

    texts = []
    for entry in manifest():
        raw = (SAMPLE_DIR / entry["file"]).read_bytes().decode(entry["encoding"])
        if entry["format"] == "html":
            tree = LexborHTMLParser(raw)
            tree.strip_tags(["script", "style"])
            texts.append(tree.body.text(separator="\n") if tree.body else "")
        elif entry["format"] == "jsonl":
            for line in raw.splitlines():
                if line.strip():
                    record = json.loads(line)
                    texts.append("\n".join(json_strings(record)))
        else:
            texts.append(raw)
    return texts


def json_strings(value) -> list[str]:
    """Every string in a parsed JSON value, depth first in document order (keys left out)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in json_strings(v)]
    return []
