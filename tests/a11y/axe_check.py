"""Run axe-core on an HTML page in headless Chromium and return the accessibility violations it finds.

Needs the system's Chromium (Debian package ``chromium``) and axe-core from npm
(``npm install --prefix tests/a11y``). Only the standard library is used: Chromium loads a copy of the page
with axe injected, runs it, writes the results into the DOM, and ``--dump-dom`` hands them back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: WCAG 2.0, 2.1 and 2.2 levels A and AA: what the packs promise.
WCAG_AA_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,1024",
)

_RESULT_ID = "cinb-axe-results"
_RESULT_RE = re.compile(
    r'<script type="application/json" id="' + _RESULT_ID + r'">(.*?)</script>', re.DOTALL
)
_CSP_RE = re.compile(r"<meta[^>]*http-equiv=[\"']?content-security-policy[\"']?[^>]*>", re.IGNORECASE)
_BODY_END_RE = re.compile(r"</body\s*>", re.IGNORECASE)


def find_chromium() -> str | None:
    """Path of a Chromium executable (``CINB_CHROMIUM`` first, then the usual names on PATH), or None."""
    candidates = [os.environ.get("CINB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    for name in filter(None, candidates):
        found = shutil.which(name)
        if found:
            return found
    return None


def find_axe() -> Path | None:
    """Path of ``axe.min.js`` (``AXE_CORE_JS`` first, then tests/a11y/node_modules), or None."""
    for path in (os.environ.get("AXE_CORE_JS"), HERE / "node_modules" / "axe-core" / "axe.min.js"):
        if path and Path(path).is_file():
            return Path(path)
    return None


def unavailable_reason() -> str | None:
    """Why the browser check cannot run here (a sentence saying what to install), or None when it can."""
    missing = []
    if find_chromium() is None:
        missing.append("Chromium (apt-get install chromium, or set CINB_CHROMIUM)")
    if find_axe() is None:
        missing.append("axe-core (npm install --prefix tests/a11y)")
    return "needs " + " and ".join(missing) if missing else None


def _runner_script(tags) -> str:
    # Results go into an inert JSON element, added only after axe has finished so that it is not audited.
    return f"""
<script src="axe.min.js"></script>
<script>
(async function () {{
  const out = document.createElement("script");
  out.type = "application/json";
  out.id = "{_RESULT_ID}";
  try {{
    const r = await axe.run(document, {{ runOnly: {{ type: "tag", values: {json.dumps(list(tags))} }},
                                         resultTypes: ["violations"] }});
    out.textContent = JSON.stringify({{ engine: r.testEngine, violations: r.violations }})
      .replace(/</g, "\\\\u003c");
  }} catch (e) {{
    out.textContent = JSON.stringify({{ error: String(e) }}).replace(/</g, "\\\\u003c");
  }}
  document.body.appendChild(out);
}})();
</script>
"""


def axe_violations(html_path, *, tags=WCAG_AA_TAGS, timeout: float = 180.0) -> list[dict]:
    """Run axe-core on a copy of the page `html_path` in headless Chromium and return its violations.

    Parameters
    ----------
    html_path : path
        The HTML file to check. It is not modified: axe is injected into a copy (and the copy's
        Content-Security-Policy, which would forbid the injected script, is removed).
    tags : sequence of str
        axe rule tags to run; default WCAG 2.0/2.1/2.2 A and AA.
    timeout : float
        Seconds before Chromium is given up on.

    Returns
    -------
    list of dict
        axe's violation objects (``id``, ``impact``, ``help``, ``nodes`` …); empty when the page passes.

    Raises
    ------
    RuntimeError
        When Chromium or axe-core is missing, or axe produced no result.
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(f"Cannot run the accessibility check: {reason}.")
    page = Path(html_path).read_text(encoding="utf-8")
    page = _CSP_RE.sub("", page)
    runner = _runner_script(tags)
    if _BODY_END_RE.search(page):
        page = _BODY_END_RE.sub(lambda m: runner + m.group(0), page, count=1)
    else:
        page += runner
    with tempfile.TemporaryDirectory(prefix="cinb-axe-") as tmp:
        work = Path(tmp)
        (work / "page.html").write_text(page, encoding="utf-8")
        shutil.copyfile(find_axe(), work / "axe.min.js")
        command = [
            find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}",
            "--virtual-time-budget=60000", "--dump-dom", (work / "page.html").as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    match = _RESULT_RE.search(done.stdout)
    if not match:
        raise RuntimeError(
            f"axe produced no result (Chromium exit {done.returncode}); stderr tail:\n{done.stderr[-2000:]}"
        )
    result = json.loads(match.group(1))
    if "error" in result:
        raise RuntimeError(f"axe failed inside Chromium: {result['error']}")
    return result["violations"]


def format_violations(violations: list[dict]) -> str:
    """A readable list of violations for an assertion message."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v.get('impact')}): {v.get('help')} — {v.get('helpUrl', '')}")
        for node in v.get("nodes", [])[:5]:
            lines.append(f"    {node.get('target')}: {node.get('html', '')[:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary[:300]}")
    return "\n".join(lines)
