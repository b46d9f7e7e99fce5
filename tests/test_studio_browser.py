"""The studio in a real browser: Debian's chromium, headless, driven by Playwright (no browser
download). `meditate studio` runs as a user starts it (with the fake engine in its environment);
the test types a broken cue, sees the error at its line, fixes it, fits the length, renders,
and plays the result with its captions and chapters. Screenshots go to the test's tmp folder.

Skips only where chromium is absent and this is not CI (.ci/run installs it; in CI it must run).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")

SCRIPT = """---
title: Browser test
---
# Opening
Hello there, and welcome.
[pause 2s-20s]
# Closing
Goodbye now.
"""


@pytest.fixture
def studio(tmp_path):
    """`meditate studio FOLDER --no-browser --port 0`: yields the URL it printed."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "practice.md").write_text(SCRIPT, encoding="utf-8")
    env = dict(os.environ, MEDITATE_ENGINE="fake")
    meditate = Path(sys.executable).with_name("meditate")
    proc = subprocess.Popen([str(meditate), "studio", str(folder), "--no-browser", "--port", "0"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in proc.stdout:
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "meditate studio printed no address"
        yield url, folder
    finally:
        proc.terminate()
        proc.wait(10)


def test_write_fix_render_and_play_in_a_real_browser(studio, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, folder = studio
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            checks = []
            page.on("request", lambda r: checks.append(r.url) if r.url.endswith("/api/check") else None)
            page.goto(url)
            page.get_by_text("Browser test").click()
            expect(page.locator("#timeline svg")).to_be_visible()
            expect(page.locator("#errors li.ok")).to_have_text("No problems found.")

            # a broken cue on line 9: the error shows at its line, in the list and in the gutter
            text = page.locator("#text")
            text.click()
            page.keyboard.press("Control+End")
            before = len(checks)
            page.keyboard.type("[breathe 4-x-6 x3]")
            expect(page.locator("#errors li.error")).to_contain_text("line 9:")
            assert 1 <= len(checks) - before <= 2          # checked as you type, debounced: not per key
            expect(page.locator("#errors li.error")).to_contain_text("malformed pattern")
            expect(page.locator('#gutter span.error[data-line="9"]')).to_have_count(1)
            page.screenshot(path=str(shots / "1-error.png"))

            # fixed: no problems, and the timeline now has breath shapes
            for _ in range(len("4-x-6 x3]")):
                page.keyboard.press("Backspace")
            page.keyboard.type("4-2-6 x3]")
            expect(page.locator("#errors li.ok")).to_have_text("No problems found.")
            expect(page.locator("#gutter span.error")).to_have_count(0)
            expect(page.locator("#timeline svg .inhale")).to_have_count(3)

            # the length control: its range is the reachable one; at its top the pause is stretched
            slider = page.locator("#length")
            lo, hi = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
            assert hi - lo >= 17                                          # 18 s of flexible pause
            expect(page.locator("#reach")).to_contain_text("reachable")
            slider.evaluate("(el) => { el.value = el.max; el.dispatchEvent(new Event('input')); }")
            expect(page.locator("#length-value")).not_to_contain_text("as written")
            expect(page.locator("#length-value")).to_have_text(
                re.compile(rf"^{int(hi) // 60}:{int(hi) % 60:02d}$"), timeout=10_000)

            # render: a progress bar, then the player
            page.locator("#render").click()
            expect(page.locator("#player")).to_be_visible(timeout=60_000)
            page.wait_for_function("document.getElementById('audio').readyState >= 1", timeout=30_000)
            duration = page.evaluate("document.getElementById('audio').duration")
            assert duration == pytest.approx(hi, abs=0.1)
            # captions: the .vtt is a loaded, showing track with the phrases as cues
            page.wait_for_function("""() => { const t = document.getElementById('audio').textTracks[0];
                                              return t && t.cues && t.cues.length > 0; }""", timeout=30_000)
            cues = page.evaluate("""() => { const t = document.getElementById('audio').textTracks[0];
                                            return [t.kind, t.mode, Array.from(t.cues).map(c => c.text)]; }""")
            assert cues[0] == "captions" and cues[1] == "showing"
            assert cues[2] == ["Hello there, and welcome.", "Goodbye now."]
            # chapter marks jump the player
            marks = page.locator("#chapters button")
            expect(marks).to_have_count(2)
            start = float(marks.nth(1).get_attribute("data-start"))
            assert start > 10
            page.evaluate("document.getElementById('audio').muted = true")
            marks.nth(1).click()
            t = page.evaluate("document.getElementById('audio').currentTime")
            assert t == pytest.approx(start, abs=0.5)
            expect(page.locator("#caption")).to_have_text("Goodbye now.")     # the cue at that mark
            page.screenshot(path=str(shots / "2-rendered.png"))

            # save writes the fixed script
            page.locator("#save").click()
            expect(page.locator("#status")).to_have_text("saved practice.md")
            assert "[breathe 4-2-6 x3]" in (folder / "practice.md").read_text()
            assert not errors, errors
        finally:
            browser.close()
    assert (shots / "1-error.png").stat().st_size > 10_000 and (shots / "2-rendered.png").stat().st_size > 10_000
