"""The HTML report in a real browser: Debian's chromium (scripts/install_chromium.sh), driven headless by
Playwright's Python client. A real sweep on a text dataset whose class names are markup, ampersands and quotes,
and non-ASCII: no script of theirs runs, they appear as text, the page fetches nothing, and a screenshot of the
first screen is written next to the report.

What this cannot prove: other browsers' behaviour (the escaping is Jinja2's autoescape, which does not depend on
the browser) or fonts: a missing CJK font changes the picture, not the text the test reads.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis.report import build_report
from core.course import Job
from sweeps.runner import run_sweep
from tests.conftest import ROOT

NAMES = ["<script>alert(1)</script>", 'a&b "q"', "Équus 猫"]


@pytest.fixture(scope="module")
def chromium() -> str:
    done = subprocess.run([str(ROOT / "scripts" / "install_chromium.sh")], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        pytest.skip(done.stderr.strip() or "chromium could not be installed")
    return done.stdout.strip().splitlines()[-1]


def write_text_dataset(folder: Path) -> None:
    """Three classes with their own words, named as a careless or hostile CSV would name them."""
    folder.mkdir(parents=True)
    for split, per_class in (("train", 16), ("test", 6)):
        rows = [{"text": f"w{c}a w{c}b filler w{c}c {'more ' * (i % 3)}", "label": name}
                for c, name in enumerate(NAMES) for i in range(per_class)]
        pd.DataFrame(rows).to_csv(folder / f"{split}.csv", index=False)


def test_report_escapes_user_names_in_a_real_browser(chromium, make_options, tmp_path):
    from playwright.sync_api import sync_playwright

    write_text_dataset(tmp_path / "data" / "spam")
    summary = run_sweep(make_options({Job(2, "spam", "gru", "recurrent"): []}, tmp_path / "data", demo=False))
    assert summary.statuses == {"ok": 1}
    build_report(summary.sweep_dir)
    page_path = Path(summary.sweep_dir) / "reports" / "index.html"
    source = page_path.read_text()
    assert "<script>alert(1)</script>" not in source and "&lt;script&gt;alert(1)&lt;/script&gt;" in source

    dialogs, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        text = page.inner_text("body")
        scripts = page.evaluate("document.scripts.length")
        page.screenshot(path=str(page_path.with_name("screenshot.png")))
        browser.close()
    assert dialogs == []  # alert(1) never ran
    assert scripts == 1  # the report's own table sorter, nothing injected
    for name in NAMES:
        assert name in text
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert page_path.with_name("screenshot.png").stat().st_size > 10_000
