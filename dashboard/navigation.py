"""The lab's pages, in workflow order: one place that app.py and the page links both read."""

from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

# (url path and file name, icon); the title is the translation of `nav.<name>`.
# Material icons ship with Streamlit, so they render on machines without an emoji font.
PAGES = [
    ("home", ":material/home:"),
    ("data", ":material/cleaning_services:"),
    ("train", ":material/monitoring:"),
    ("playground", ":material/tune:"),
    ("ratings", ":material/star_rate:"),
    ("write", ":material/edit_note:"),
]
HOME = "home"


def page_file(name: str) -> Path:
    return PAGES_DIR / f"{name}.py"
