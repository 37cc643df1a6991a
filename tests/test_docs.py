"""The rendered docs site, seen as a reader sees it: headless Chromium loads pages and we look for their headings."""
import shutil, subprocess, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.skipif(not (SITE / "index.html").exists(), reason="docs not built: run `make docs` (make test does)"),
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it: apt-get install chromium)")]

def dom(page: Path) -> str:
    with tempfile.TemporaryDirectory() as prof:
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={prof}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout

def headings(html: str) -> list[str]:
    from html.parser import HTMLParser
    class P(HTMLParser):
        def __init__(self): super().__init__(); self.h, self.cur = [], None
        def handle_starttag(self, tag, attrs):
            if tag in ("h1", "h2"): self.cur = ""
        def handle_endtag(self, tag):
            if tag in ("h1", "h2") and self.cur is not None: self.h.append(self.cur.strip().rstrip("¶").strip()); self.cur = None
        def handle_data(self, data):
            if self.cur is not None: self.cur += data
    p = P(); p.feed(html); return p.h

def test_home_page_renders_with_navigation_and_search():
    html = dom(SITE / "index.html")
    hs = headings(html)
    assert any("mer" in h.lower() for h in hs), hs
    assert "Results" in html and "Benchmark" in html            # navigation reaches the benchmark page
    assert (SITE / "search" / "search_index.js").exists() or (SITE / "search" / "search_index.json").exists()

def test_benchmark_page_renders():
    page = SITE / "results" / "benchmark.html"
    assert page.exists(), "benchmark page missing from the site"
    hs = headings(dom(page))
    assert any("benchmark" in h.lower() for h in hs), hs

def test_benchmark_tables_on_a_clone_that_has_not_run_the_pipelines():
    """Without an executed Benchmark page, the docs show the benchmark's tables computed from the committed metrics: every
    model with committed metrics is a row, and the best models and targets are the ones the real benchmark recorded."""
    import json
    if (ROOT / "reports" / "results" / "benchmark_real.ipynb").exists(): pytest.skip("the real-data Benchmark page was executed here")
    slot = "benchmark_real" if (ROOT / "reports" / "results" / "benchmark.ipynb").exists() else "benchmark"
    html = dom(SITE / "results" / f"{slot}.html")
    assert "Benchmark (committed figures)" in headings(html)
    names = [f.stem for d in ("models", "real") for f in (ROOT / "metrics" / d).glob("*.json")]
    assert len(names) > 40 and [n for n in names if n not in html] == []
    B = json.loads((ROOT / "metrics" / "benchmark_real.json").read_text())
    for r in B["best"] + B["targets"]: assert r["model"] in html and r["value"] in html, r

def test_library_pages_render():
    for name, title in [("00_config.html", "config"), ("21_evaluate.html", "evaluate")]:
        assert title in [h.lower() for h in headings(dom(SITE / name))]

def _bench_page(name: str, title: str):
    "The rendered Results page of a committed benchmark run (bench/results/<name>.json) and that run; skips without the run."
    import json
    f = ROOT / "bench" / "results" / f"{name}.json"
    if not f.exists(): pytest.skip(f"no committed {name} run")
    page = SITE / "results" / f"{name}.html"
    assert page.exists(), f"{title} page missing from the site"
    html = dom(page)
    assert title in headings(html)
    return html, json.loads(f.read_text())

def test_feature_speed_page_shows_the_committed_figures():
    "The Feature speed page renders the committed benchmark run (bench/results/bench_features.json) on any clone."
    html, B = _bench_page("bench_features", "Feature speed")
    assert f"{B['ratios']['naive_vs_mer_speedup']:.2f}x" in html    # the figure printed by the page is the committed run's

def test_seed_spread_page_shows_the_committed_runs():
    "The Seed spread page renders the committed run of bench/seeds.py (bench/results/bench_seeds.json) on any clone."
    html, B = _bench_page("bench_seeds", "Seed spread")
    for e in B["entries"]:
        assert e["name"] in html, e["name"]                            # every entry of the committed run is tabulated
    assert B["machine"]["cpu"] in html

def test_prediction_speed_page_shows_the_committed_run():
    "The Prediction speed page renders the committed run of bench/predict.py (bench/results/bench_predict.json) on any clone."
    html, B = _bench_page("bench_predict", "Prediction speed beside VibeNet")
    for r in B["rows"]:
        assert r["system"] in html and f"{r['s_per_clip']:.3f}" in html, r["system"]   # each system's throughput, as committed
    assert f"model `{B['model']['name']}`" not in html and B["model"]["name"] in html      # rendered as code, named
    assert not B["model_dir"].startswith("/"), "a committed report carries no local path"
