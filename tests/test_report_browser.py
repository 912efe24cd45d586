"""report.html in a real headless browser (Debian's chromium) with the network cut off: the page
must render its charts from the file alone, and hostile model names and machine fields must reach
the DOM as text, never as elements. Skipped, with the reason, where no chromium is installed
(apt-get install chromium). The screenshot is also copied to $WB_SHOT when that is set."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from studyrecords import record, write_run

from wattbench.report.build import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
OFFLINE = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("no headless chromium here (apt-get install chromium)")


def _png_rows(path: Path) -> tuple[int, int, bytes]:
    """(width, height, raw scanlines) of a PNG: read with zlib, not with the code under test."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_page_renders_offline_in_chromium(tmp_path: Path) -> None:
    browser = _browser()
    hostile = "<img src=x onerror=alert(1)>"
    design = {("a", "L0"): (0.4, 100.0), ("a", "L1"): (0.6, 300.0), ("b", "L0"): (0.5, 50.0),
              ("b", "L1"): (0.2, 40.0), (hostile, "L0"): (0.3, 70.0)}
    run = write_run(tmp_path / "run", [
        record(model, task, "short", level, r, rouge_l=q * (1 + 0.1 * t) * (1 + 0.03 * r),
               energy_j=e * (1 + 0.05 * r), latency_s=e / 50 * (1 + 0.02 * r),
               machine_cpu="<script>document.title='owned'</script>")
        for (model, level), (q, e) in design.items()
        for t, task in enumerate(("qa", "summary", "humanities")) for r in (0, 1, 2)
    ])
    write_report([run], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").resolve()
    dom = subprocess.run([browser, *OFFLINE, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    # The browser parsed every chart (2 Pareto, 3 level charts, 3 radars, 1 heat map) and the table.
    assert dom.count("<svg") == 9 and "★★★★★" in dom and "a radar needs" not in dom
    assert len(re.findall(r"<circle", dom)) >= 3 * 3 * 2
    # Every Pareto point carries its model-and-level tag; error bars are drawn.
    assert dom.count('class="tag">a L0<') == 2 and dom.count('class="bar"') >= 2 * 5
    # The hostile texts are text: no <img> or <script> element, the title untouched.
    assert "<img" not in dom and "<script" not in dom and "owned" not in dom.split("</title>")[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    shot = tmp_path / "report.png"
    subprocess.run([browser, *OFFLINE, f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    width, height, pixels = _png_rows(shot)
    assert (width, height) == (1200, 3000)
    # Not a blank page: the charts' colours make many distinct bytes, a white page makes two.
    assert len(set(pixels)) > 100
    if os.environ.get("WB_SHOT"):
        shutil.copyfile(shot, os.environ["WB_SHOT"])
    print(f"screenshot: {shot}")


# Every text of every chart, measured by the browser: the parts of it outside its own <svg> box
# (a label or title cut at the chart's edge), and headings wider than the page.
CLIPPED = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg')) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (!t.textContent.trim() || r.width === 0) continue;
      const outside = r.left < box.left - 1 || r.right > box.right + 1;
      if (outside || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.push(`${t.textContent} [${Math.round(r.left - box.left)}..${Math.round(r.right - box.left)}`
                 + ` of ${Math.round(box.width)}]`);
    }
  }
  for (const h of document.querySelectorAll('h1, h2, h3, caption, th'))
    if (h.scrollWidth > h.clientWidth + 1 && getComputedStyle(h).overflow === 'hidden')
      out.push(h.textContent);
  return out;
}"""


@pytest.mark.parametrize("width", [1200, 700])
def test_no_label_or_title_is_clipped(tmp_path: Path, width: int) -> None:
    """The Pareto tags (L0's sits at the front's edge), the radar titles and the level charts'
    labels stay inside their charts at a desktop and a narrow width."""
    browser = _browser()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    long_name = "qwen2.5-coder-14b-instruct-q4_k_m"
    design = {("smollm2", "L0"): (0.9, 30.0), ("smollm2", "L3"): (0.5, 400.0), (long_name, "L0"): (0.2, 10.0),
              (long_name, "P"): (0.95, 900.0)}
    run = write_run(tmp_path / "run", [
        record(model, task, "short", level, r, rouge_l=q * (1 + 0.1 * t) * (1 + 0.03 * r),
               energy_j=e * (1 + 0.05 * r), latency_s=e / 50 * (1 + 0.02 * r))
        for (model, level), (q, e) in design.items()
        for t, task in enumerate(("qa", "summary", "humanities")) for r in (0, 1, 2)
    ])
    write_report([run], tmp_path / "out")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": width, "height": 1000})
        page.route("http*://**", lambda route: route.abort())  # offline: the file alone
        page.goto((tmp_path / "out" / "report.html").resolve().as_uri())
        assert page.locator("svg").count() >= 5
        clipped = page.evaluate(CLIPPED)
        chromium.close()
    assert clipped == [], f"at {width} px these are cut: {clipped}"


# Every pair of texts in each Pareto chart whose boxes, as the browser lays them out, overlap.
OVERLAPS = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg')) {
    if (!(svg.getAttribute('aria-label') || '').includes('Pareto')) continue;
    const boxes = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
      .map(t => [t.textContent, t.getBoundingClientRect()]);
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, r] = boxes[i], [b, s] = boxes[j];
        const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
        const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
        if (w > 0.5 && h > 0.5) out.push(`${a} / ${b}`);
      }
  }
  return out;
}"""


@pytest.mark.parametrize("width", [1200, 700])
def test_no_two_labels_of_a_pareto_chart_overlap(tmp_path: Path, width: int) -> None:
    """Six configurations of two models at nearly the same cost and quality, one of them measured
    only while contended (its tag ends in †): their tags are placed apart, clear of the legend."""
    browser = _browser()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    design = {("smollm2", "L0"): (0.50, 100.0), ("smollm2", "L1"): (0.51, 102.0),
              ("smollm2", "L2"): (0.52, 99.0),
              ("qwen2.5-0.5b", "L0"): (0.505, 101.0), ("qwen2.5-0.5b", "L1"): (0.49, 103.0),
              ("qwen2.5-0.5b", "P"): (0.515, 100.5), ("far", "L0"): (0.9, 400.0)}
    run = write_run(tmp_path / "run", [
        record(model, "qa", "short", level, r, rouge_l=q * (1 + 0.01 * r), energy_j=e * (1 + 0.01 * r),
               latency_s=e / 50 * (1 + 0.01 * r), contended=level == "P")
        for (model, level), (q, e) in design.items() for r in (0, 1, 2)
    ])
    write_report([run], tmp_path / "out")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": width, "height": 1000})
        page.route("http*://**", lambda route: route.abort())
        page.goto((tmp_path / "out" / "report.html").resolve().as_uri())
        tags = page.locator("svg[aria-label*='Pareto'] text.tag").all_text_contents()
        overlaps = page.evaluate(OVERLAPS)
        clipped = page.evaluate(CLIPPED)
        chromium.close()
    assert len(tags) == 2 * len(design) and "qwen2.5-0.5b P †" in tags
    assert overlaps == [], f"at {width} px these labels overlap: {overlaps}"
    assert clipped == [], f"at {width} px these are cut: {clipped}"
