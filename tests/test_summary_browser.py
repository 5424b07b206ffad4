"""The pull-request summary (rollouts diff -f markdown) as a reviewer sees it: rendered to HTML as GitHub renders
Markdown (CommonMark with tables, a ```mermaid fence as a Mermaid diagram, by Mermaid's own browser bundle), opened
in a real headless Chromium, its DOM checked for the chart and a screenshot written for a person to look at
(printed path; kept under the test's directory)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _required
from tests.test_diff import edit, repo

__all__ = ["repo"]

MERMAID = Path(os.environ.get("ROLLOUTS_MERMAID_JS") or Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rollouts/tools/mermaid-12.3.0/node_modules/mermaid"
    / "dist/mermaid.min.js")


def need(found: object, message: str) -> None:
    if not found:
        if _required():
            pytest.fail(message)
        pytest.skip(message)


def page(markdown: str) -> str:
    """GitHub-like HTML: CommonMark + tables; a mermaid fence becomes a <pre class="mermaid"> Mermaid renders."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    body = re.sub(r'<pre><code class="language-mermaid">(.*?)</code></pre>',
                  lambda m: f'<pre class="mermaid">{m.group(1)}</pre>', body, flags=re.S)
    return ("<!doctype html><html><head><meta charset='utf-8'><style>body{font-family:sans-serif;max-width:1000px;"
            "margin:2em auto} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px 8px}</style>"
            f"<script src='{MERMAID.as_uri()}'></script></head><body>{body}"
            "<script>mermaid.initialize({startOnLoad: true});</script></body></html>")


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--allow-file-access-from-files", "--virtual-time-budget=15000", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_pull_request_summary_renders_its_weight_chart_in_a_real_browser(repo: Path, tmp_path: Path) -> None:
    need(shutil.which("chromium") or shutil.which("chromium-browser"),
         "chromium is not installed (bash .ci/setup --tests installs it)")
    need(MERMAID.is_file(), f"{MERMAID} is missing (bash .ci/setup --tests installs mermaid)")
    edit(repo, "checkout", "steps: [5, 25, 50]", "steps: [10, 50]")
    summary = subprocess.run([str(Path(sys.executable).parent / "rollouts"), "diff", "--root", str(repo), "-f",
                              "markdown"], capture_output=True, text=True, check=False)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.count("```mermaid") == 2  # production and staging
    index = tmp_path / "summary.html"
    index.write_text(page(summary.stdout), encoding="utf-8")
    dom = chromium("--dump-dom", index.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    charts = re.findall(r'<pre class="mermaid"[^>]*>(.*?)</pre>', dom.stdout, flags=re.S)
    assert len(charts) == 2, dom.stdout[-3000:]
    for chart in charts:
        assert '<svg' in chart and 'aria-roledescription="xychart"' in chart, chart[:500]
        assert "Syntax error" not in chart
        assert chart.count('class="line-plot-') == 2 or chart.count("<path") >= 2  # before and after
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom.stdout))
    assert "canary weight, before (grey) and after (blue)" in text and "time to promotion" in text
    shot = Path(os.environ.get("ROLLOUTS_SCREENSHOT_DIR") or tmp_path) / "pr-summary.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1100,1500", index.as_uri())
    assert taken.returncode == 0 and shot.stat().st_size > 20_000, taken.stderr[-2000:]
    print(f"\nthe pull-request summary as a reviewer sees it: {shot}")
