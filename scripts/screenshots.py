#!/usr/bin/env python3
"""Screenshots of a published quarter for docs/: the index and one programme's summary, 1400 px wide.

    python scripts/screenshots.py reports/2026Q3 [--programme MENT-RDM] [--out docs] [--height 900]

writes ``docs/screenshot_index.png`` (``<quarter>/index.html``) and ``docs/screenshot_summary.png``
(``<quarter>/<programme>/index.html``; by default the first programme of the manifest that has one).
The window is 1400 x 900 px: what the screenshot shows is what a reader sees above the fold.
Needs Chromium (``$CHROMIUM``, ``chromium``, ``chromium-browser`` or ``google-chrome`` on PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH = 1400


def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


def screenshot(page: Path, png: Path, chromium: str, height: int = 900, timeout: float = 120) -> None:
    """Render ``page`` in headless Chromium at WIDTH x ``height`` and save it as ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shot-") as tmp:
        cmd = [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={Path(tmp) / 'profile'}", f"--window-size={WIDTH},{height}",
               "--virtual-time-budget=5000", f"--screenshot={png.resolve()}", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium could not take a screenshot of {page} (exit {proc.returncode})")


def summary_page(quarter: Path, programme: str | None) -> Path | None:
    """``<quarter>/<programme>/index.html``; without ``programme`` the first of the manifest (or of the
    folders) that has one."""
    if programme:
        page = quarter / programme / "index.html"
        return page if page.is_file() else None
    order: list[str] = []
    manifest = quarter / "manifest.json"
    if manifest.is_file():
        order = [str(p) for p in json.loads(manifest.read_text(encoding="utf-8")).get("programmes") or []]
    order += sorted(p.name for p in quarter.iterdir() if p.is_dir() and p.name not in order and p.name != "all")
    for pid in order:
        if (quarter / pid / "index.html").is_file():
            return quarter / pid / "index.html"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("quarter", type=Path, help="a published quarter folder, e.g. reports/2026Q3")
    ap.add_argument("--programme", help="programme whose summary to shoot (default: the first with a summary)")
    ap.add_argument("--out", type=Path, default=Path("docs"), help="folder for the PNGs (default docs)")
    ap.add_argument("--height", type=int, default=900, help="window height in px (default 900: the fold)")
    args = ap.parse_args(argv)
    chromium = find_chromium()
    if not chromium:
        print("no Chromium found (set $CHROMIUM)", file=sys.stderr)
        return 2
    index = args.quarter / "index.html"
    if not index.is_file():
        print(f"no index.html in {args.quarter}", file=sys.stderr)
        return 2
    screenshot(index, args.out / "screenshot_index.png", chromium, args.height)
    print(args.out / "screenshot_index.png")
    summary = summary_page(args.quarter, args.programme)
    if summary is None:
        print(f"no programme summary (<programme>/index.html) in {args.quarter}", file=sys.stderr)
        return 1
    screenshot(summary, args.out / "screenshot_summary.png", chromium, args.height)
    print(args.out / "screenshot_summary.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
