"""Run axe-core (tests/vendor/axe.min.js) over HTML pages in headless Chromium; no Selenium, no DevTools.

For each page a copy is written to a temporary folder with a ``<base href>`` pointing at the
page's own folder (so images and styles load as published), axe's script and a small script that
runs ``axe.run`` and writes the result as JSON into ``<pre id="axe-result">``. Chromium loads the
copy with ``--dump-dom`` and a virtual-time budget, and the result is read back from the dumped
DOM. The published page is never modified.

Usage: ``python tests/a11y.py PAGE_OR_QUARTER_DIR [...]`` prints the violations as JSON (exit 1 when
there are any).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
_RESULT = re.compile(r'<pre id="axe-result"[^>]*>(.*?)</pre>', re.S)

_RUNNER = """
<script src="{axe}"></script>
<script>
(function () {{
  function put(obj) {{
    var p = document.createElement('pre'); p.id = 'axe-result'; p.hidden = true;
    p.textContent = JSON.stringify(obj); document.documentElement.appendChild(p);
  }}
  if (typeof axe === 'undefined') {{ put({{error: 'axe-core did not load'}}); return; }}
  axe.run(document, {{runOnly: {{type: 'tag', values: {tags}}}, resultTypes: ['violations']}})
    .then(function (r) {{
      put({{violations: r.violations.map(function (v) {{
        return {{id: v.id, impact: v.impact, help: v.help, tags: v.tags,
                nodes: v.nodes.map(function (n) {{ return {{target: n.target, html: n.html.slice(0, 300)}}; }})}};
      }})}});
    }})
    .catch(function (e) {{ put({{error: String(e)}}); }});
}})();
</script>
"""


def find_chromium() -> str | None:
    """Path of a Chromium or Chrome binary (``$CHROMIUM`` first), or None."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _wrapped(page: Path) -> str:
    text = page.read_text(encoding="utf-8", errors="replace")
    base = f'<base href="{html.escape(page.resolve().parent.as_uri() + "/")}">'
    runner = _RUNNER.format(axe=html.escape(AXE.as_uri()), tags=json.dumps(TAGS))
    m = re.search(r"<head[^>]*>", text, re.I)
    text = text[: m.end()] + base + text[m.end():] if m else base + text
    i = text.lower().rfind("</body>")
    return text[:i] + runner + text[i:] if i >= 0 else text + runner


def run_axe(page: str | Path, chromium: str | None = None, budget_ms: int = 30000, timeout: float = 180) -> list[dict]:
    """axe violations of one page: a list of ``{id, impact, help, tags, nodes: [{target, html}]}``.

    Raises RuntimeError when Chromium is missing, fails, or axe does not report.
    """
    chromium = chromium or find_chromium()
    if not chromium:
        raise RuntimeError("no Chromium found (set $CHROMIUM)")
    page = Path(page)
    with tempfile.TemporaryDirectory(prefix="axe-") as tmp:
        copy = Path(tmp) / "page.html"
        copy.write_text(_wrapped(page), encoding="utf-8")
        cmd = [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
               "--allow-file-access-from-files", f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--virtual-time-budget={budget_ms}", "--window-size=1400,900", "--dump-dom", copy.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    m = _RESULT.search(proc.stdout)
    if not m:
        raise RuntimeError(f"axe gave no result for {page} (chromium exit {proc.returncode}): "
                           f"{proc.stderr.strip().splitlines()[-1:] or ''}")
    result = json.loads(html.unescape(m.group(1)))
    if "error" in result:
        raise RuntimeError(f"axe failed on {page}: {result['error']}")
    return result["violations"]


def pages_of(target: str | Path, include_audit: bool = False) -> list[Path]:
    """The page itself, or every .html page under a folder (the audit trail ``report.html`` only on request)."""
    target = Path(target)
    if target.is_file():
        return [target]
    return sorted(p for p in target.rglob("*.html") if include_audit or p.name != "report.html")


def counts_by_rule(violations: list[dict]) -> dict[str, int]:
    """Number of failing nodes per axe rule."""
    return {v["id"]: len(v["nodes"]) for v in sorted(violations, key=lambda v: v["id"])}


def main(argv: list[str]) -> int:
    audit = "--audit" in argv
    out: dict[str, list[dict]] = {}
    for target in (a for a in argv if a != "--audit"):
        for page in pages_of(target, include_audit=audit):
            out[str(page)] = run_axe(page)
    print(json.dumps({p: {"counts": counts_by_rule(v), "violations": v} for p, v in out.items()}, indent=1))
    return 1 if any(out.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
