"""`python -m core bench clean`: it runs on small sizes and reports the HTML extraction's F1, which must not fall
below what trafilatura's precise mode with its fallbacks gave (0.984 on the sample pages)."""

from core.bench.clean import article_f1, bench_clean
from tests.conftest import SHARED, require, run_core

REAL_PAGES = SHARED / "data" / "html"  # 9 pages saved from the web (news, Wikipedia, blogs; English and Chinese)


def test_article_f1_counts_words_and_cjk_characters():
    page = "<html><body><nav>Home</nav><article><p>The lantern festival returns.</p><p>灯会回来了</p></article></body></html>"
    assert article_f1(page, "The lantern festival returns.\n\n灯会回来了") == 1.0
    assert article_f1(page, "Home") == 0.0
    half = article_f1(page, "The lantern festival returns. 灯会回来了 Home Subscribe Share this article now please")
    assert 0.6 < half < 0.8  # all 9 article tokens found, 9 of 16 extracted tokens right


def test_bench_clean_reports_throughput_and_extraction_quality():
    result = bench_clean(plain_mb=0.3, html_mb=0.1, preview_mb=0.3)
    assert result["plain_docs_in"] > 50 and result["plain_mb_per_s"] > 0 and result["html_mb_per_s"] > 0
    assert result["plain_cpu_s"] > 0 and result["plain_peak_rss_mb"] > 50  # at least this process
    assert result["html_f1"] >= 0.98


def test_bench_clean_times_extraction_on_a_folder_of_real_pages():
    require(REAL_PAGES.is_dir(), f"no {REAL_PAGES}: the shared saved web pages")
    result = bench_clean(plain_mb=0.3, html_mb=3, preview_mb=0.3, html_dir=str(REAL_PAGES))
    assert result["html_real_pages"] == 9
    assert result["html_real_mb"] >= 3  # the 9 pages repeated up to html_mb, as the sample pages are
    assert result["html_real_mb_per_s"] > 0 and result["html_real_mb_per_cpu_s"] > 0
    files_kb = sum(p.stat().st_size for p in REAL_PAGES.glob("*.htm*")) / 9 / 1e3
    assert abs(result["html_real_page_kb"] - files_kb) < files_kb / 2  # decoded text, about the size of the file
    assert result["html_mb_per_s"] > 0 and result["html_f1"] >= 0.98  # the sample-page figures are still there


def test_bench_clean_with_a_folder_without_pages_says_so_in_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not a page", encoding="utf-8")
    for folder in (tmp_path, tmp_path / "missing"):
        result = run_core("bench", "clean", "--json", "--html-dir", str(folder))
        assert result.returncode != 0
        assert result.stderr.startswith("error: --html-dir") and len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""
