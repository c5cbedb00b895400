"""HTML that may reach a report: an allowlist of inert elements and attributes, everything else as text.

Notebook outputs are rendered into ``report.html``. The tables the notebooks display escape every
cell (:func:`evaluation.publish.labels.html_table`), and :func:`sanitise_html` is the second line:
it rebuilds an HTML fragment from the elements a table or a paragraph needs (``table``, ``tr``,
``td``, ``p``, ``span``, ``style``, ...) and the attributes that cannot run code (``class``, ``id``,
``colspan``, ...). Any other element (``script``, ``img``, ``iframe``, ``svg``, ``a``, ...) is
dropped, the content of script-like elements with it; every ``on*`` handler, ``href`` and ``src``
is dropped; text is escaped again. :func:`inert_output` applies this to one notebook output
(scripts dropped, Markdown as plain text) and :func:`inert_notebook` to the published copy of an
executed notebook. See docs/privacy.md.
"""

from __future__ import annotations

import copy
import html
import json
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

#: elements kept (with their allowed attributes); everything a displayed table or paragraph needs
ALLOWED_ELEMENTS = frozenset({
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col",
    "div", "span", "p", "br", "hr", "em", "strong", "b", "i", "u", "small", "sub", "sup",
    "ul", "ol", "li", "pre", "code", "h1", "h2", "h3", "h4", "h5", "h6", "style",
})
#: attributes kept; none of them can hold a script or a link
ALLOWED_ATTRIBUTES = frozenset({"class", "id", "colspan", "rowspan", "border", "title", "lang", "dir", "style",
                                "scope", "type", "scoped"})
#: elements whose content is dropped with them
_DROP_CONTENT = frozenset({"script", "iframe", "object", "embed", "template", "noscript", "svg", "math",
                           "textarea", "xmp", "noembed", "noframes", "title", "head"})
_VOID = frozenset({"br", "hr", "col"})


class _Sanitiser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.dropping: list[str] = []
        self.in_style = 0

    def _attrs(self, attrs: list[tuple[str, str | None]]) -> str:
        kept = []
        for name, value in attrs:
            name = name.lower()
            if name not in ALLOWED_ATTRIBUTES:
                continue
            if name == "style" and value and any(w in value.lower() for w in ("url(", "expression", "javascript")):
                continue
            kept.append(f' {name}="{html.escape(value or "", quote=True)}"' if value is not None else f" {name}")
        return "".join(kept)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if self.dropping:
            if tag in _DROP_CONTENT:
                self.dropping.append(tag)
            return
        if tag in _DROP_CONTENT:
            self.dropping.append(tag)
        elif tag in ALLOWED_ELEMENTS:
            self.out.append(f"<{tag}{self._attrs(attrs)}>")
            if tag == "style":
                self.in_style += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if not self.dropping and tag in ALLOWED_ELEMENTS and tag != "style":
            self.out.append(f"<{tag}{self._attrs(attrs)}>")

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self.dropping:
            if tag == self.dropping[-1]:
                self.dropping.pop()
            return
        if tag in ALLOWED_ELEMENTS and tag not in _VOID:
            self.out.append(f"</{tag}>")
            if tag == "style" and self.in_style:
                self.in_style -= 1

    def handle_data(self, data: str) -> None:
        if self.dropping:
            return
        if self.in_style:
            # CSS text: no markup may close the element early
            self.out.append(data.replace("<", "\\3C "))
        else:
            self.out.append(html.escape(data, quote=False))


def sanitise_html(fragment: str) -> str:
    """``fragment`` rebuilt from allowed elements and attributes only; all text escaped.

    >>> sanitise_html('<td class="x" onclick="f()">a &lt; b<img src=x onerror=alert(1)></td>')
    '<td class="x">a &lt; b</td>'
    """
    parser = _Sanitiser()
    parser.feed(str(fragment))
    parser.close()
    return "".join(parser.out)


#: output types rendered without being markup we build: scripts are dropped, Markdown (which may carry
#: raw HTML) falls back to its plain text, HTML is rebuilt from inert elements (:func:`sanitise_html`)
_SCRIPT_MIME = ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json")


def inert_output(out: Any) -> Any:
    """A display output whose HTML cannot run code or load anything (HTML through :func:`sanitise_html`)."""
    data = out.get("data")
    if not isinstance(data, Mapping):
        return out
    data = dict(data)
    for mime in _SCRIPT_MIME:
        data.pop(mime, None)
    if "text/markdown" in data:
        md = data.pop("text/markdown")
        data.setdefault("text/plain", md)
    if "text/html" in data:
        raw = data["text/html"]
        data["text/html"] = sanitise_html("".join(raw) if isinstance(raw, list) else str(raw))
    out = copy.copy(out)
    out["data"] = data
    return out


def inert_notebook(text: str) -> str:
    """An executed notebook (JSON text) whose display outputs are inert (:func:`inert_output`).

    For the copy of a notebook that is published next to its report: a reader who opens it in
    Jupyter sees the same escaped tables, and no output can run a script.
    """
    nb = json.loads(text)
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if isinstance(cell, dict) and isinstance(cell.get("outputs"), list):
            cell["outputs"] = [inert_output(o) if isinstance(o, dict) else o for o in cell["outputs"]]
    return json.dumps(nb, ensure_ascii=False, indent=1) + "\n"
