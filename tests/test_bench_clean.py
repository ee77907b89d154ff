"""`python -m core bench clean`: it runs on small sizes and reports the HTML extraction's F1, which must not fall
below what trafilatura's precise mode with its fallbacks gave (0.984 on the sample pages)."""

from core.bench.clean import article_f1, bench_clean


def test_article_f1_counts_words_and_cjk_characters():
    page = "<html><body><nav>Home</nav><article><p>The lantern festival returns.</p><p>灯会回来了</p></article></body></html>"
    assert article_f1(page, "The lantern festival returns.\n\n灯会回来了") == 1.0
    assert article_f1(page, "Home") == 0.0
    half = article_f1(page, "The lantern festival returns. 灯会回来了 Home Subscribe Share this article now please")
    assert 0.6 < half < 0.8  # all 9 article tokens found, 9 of 16 extracted tokens right


def test_bench_clean_reports_throughput_and_extraction_quality():
    result = bench_clean(plain_mb=0.3, html_mb=0.1, preview_mb=0.3)
    assert result["plain_docs_in"] > 50 and result["plain_mb_per_s"] > 0 and result["html_mb_per_s"] > 0
    assert result["html_f1"] >= 0.98
