"""trafilatura's main-content extraction as XML, with the per-page costs that buy nothing here taken out.

Same result as trafilatura.extract(page, output_format="xml", favor_precision=True, include_comments=False,
include_tables=False, include_images=False, include_formatting=False), minus two costs: the options are made
once (making them reads trafilatura's config file), and no content fingerprint is computed for the XML's
metadata, which is never read here. On small pages these were a quarter of the time.

Fast mode (no second opinion from readability and jusText) would halve the time, but it lowers F1 on
trafilatura's own evaluation set (990 pages: 0.9155 -> 0.9028), and no cheap test tells the pages where the
second opinion matters (BENCHMARKS.md, "Cleaning").
"""

from __future__ import annotations

from functools import lru_cache

from trafilatura import bare_extraction
from trafilatura.core import determine_returnstring
from trafilatura.settings import Extractor


@lru_cache(maxsize=1)
def _options() -> Extractor:
    return Extractor(output_format="xml", precision=True, comments=False, tables=False, images=False,
                     formatting=False, dedup=False)


def main_content_xml(page: str) -> str | None:
    # extract() is bare_extraction, a fingerprint for non-text formats, then determine_returnstring.
    document = bare_extraction(page, options=_options(), as_dict=False)
    return determine_returnstring(document, _options()) if document is not None else None
