"""Regenerate the README's pictures: docs/timeline.svg (`meditate plan --svg` of a shipped practice)
and docs/studio.png (the studio page, rendered and playing, screenshotted in Debian's chromium).

    make docs-images            # or: .venv/bin/python tools/docs_images.py [--fake]

Uses the installed voice (``--fake``: the test engine, fast, for a dry run) and works on a copy of
scripts/, so the studio's drafts never touch the repository's files.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRACTICE = "soothing-rhythm-breath.md"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fake", action="store_true", help="the fake test engine instead of the installed voice")
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    a = ap.parse_args()
    env = dict(os.environ, MEDITATE_ENGINE="fake") if a.fake else dict(os.environ)
    a.out.mkdir(exist_ok=True)
    meditate = Path(sys.executable).with_name("meditate")
    subprocess.run([str(meditate), "plan", str(REPO / "scripts" / PRACTICE), "-q", "--svg",
                    str(a.out / "timeline.svg")], check=True, env=env, stdout=subprocess.DEVNULL)
    print(a.out / "timeline.svg")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(REPO / "scripts", Path(tmp) / "scripts")
        screenshot(meditate, Path(tmp) / "scripts", env, a.out / "studio.png")
    print(a.out / "studio.png")


def screenshot(meditate: Path, folder: Path, env: dict, out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    proc = subprocess.Popen([str(meditate), "studio", str(folder), "--no-browser", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = next(m.group(1) for line in proc.stdout
                   if (m := re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 980})
            page.goto(url)
            page.get_by_text("Soothing Rhythm Breathing").click()
            expect(page.locator("#timeline svg")).to_be_visible(timeout=300_000)
            page.locator("#render").click()
            expect(page.locator("#player")).to_be_visible(timeout=600_000)
            page.wait_for_function("document.getElementById('audio').readyState >= 1", timeout=60_000)
            page.evaluate("document.getElementById('audio').muted = true")
            page.locator("#chapters button").nth(2).click()          # play from a chapter mark
            expect(page.locator("#caption")).not_to_be_empty(timeout=30_000)
            page.evaluate("document.getElementById('audio').pause()")
            page.locator("#text").evaluate("(el) => { el.scrollTop = 18 * 22; }")
            page.wait_for_timeout(500)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
