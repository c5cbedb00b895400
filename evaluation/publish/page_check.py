"""A static check of the HTML pages of a published quarter: what a reader sees must be accessible,
say what it covers, and be clean text in one language (docs/methods.md, section 'Languages and
wording').

:func:`check_pages` reads every ``.html`` page under a quarter folder with the standard library's
HTML parser and returns one row per finding (columns ``check``, ``page``, ``detail``). The audit
trail (``report.html``, nbconvert's rendering of an executed notebook) is skipped unless
``include_audit=True``. The checks:

``image_alt``
    An ``<img>`` without ``alt``, with an empty alt, or with a generic one ("image", "figure", its
    file name, nbconvert's "No description has been provided for this image"). WCAG 1.1.1.
``table_header``
    A ``<table>`` without header cells (``<th>``).
``lang``
    An ``<html>`` element without a ``lang`` attribute.
``title``
    A page without ``<title>``, a title that does not name the quarter, or (on a programme's pages)
    a title that names neither the programme id nor its name.
``main``
    A page without a ``<main>`` landmark (or ``role="main"``).
``raw_value``
    Visible text with NaN, nan, inf, None, True or False as a word (True/False/None in prose such as
    "None of the ..." is not counted).
``python_repr``
    Visible text with a Python or pandas repr: ``array(``, ``Timestamp(``, ``{'``, ``dtype``,
    "110 rows × 12 columns", ``object at 0x`` ...
``decimals``
    A number with more than three decimals (``4802.731143``).
``placeholder``
    An unfilled placeholder: ``{threshold}``, ``{{``, a to-do marker, a bare parameter name where a number
    belongs ("fewer than threshold people").
``machine_name``
    A snake_case machine name in visible text (``hourly_rate_eur``): every code goes through the
    contract's labels.
``language``
    A sentence in the other language: Dutch on an English page or English on a Dutch page, by a
    small stop-word detector (:func:`other_language_share`).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from evaluation.publish.formatting import LANGUAGES

FINDING_COLUMNS = ["check", "page", "detail"]
AUDIT_PAGE = "report.html"

#: Alt texts that describe nothing (lower case, compared after stripping punctuation and spaces).
GENERIC_ALT = frozenset({
    "image", "figure", "figuur", "afbeelding", "plot", "chart", "graph", "grafiek", "picture", "img", "png", "svg",
    "no description has been provided for this image", "alt", "alt text", "untitled",
})

# words that mark English (on a Dutch page) and Dutch (on an English page). Words both languages
# use are left out ("in", "is", "of", "was", "per", "over", "at" as in "at risk", "as" as in "x-as").
ENGLISH_MARKERS = frozenset("""
the and with not are were be been being has have had this that these those which who whom whose what
when where why how than then there their they them its for from by on to into within without between
because but or if no nor only also each every any some less fewer after before during under above below
can could would should will may might must does did do a an one two three people programme participants
comparison group estimate needed check current figure override diagnostics randomised treat intention
reoffending volunteers rows days months years still shown published results result measured reason
volunteer time share showing reduction lower upper bound estimable coefficient indicative simulated available
missing events comparable gross wage hourly
""".split())
DUTCH_MARKERS = frozenset("""
de het een niet van en met zijn op voor dat die deze dit wordt worden werd geen bij naar uit ook als te om
aan er nog maar tot binnen na zonder tussen kan kunnen heeft hebben dan meer minder alleen elke wel door
hun wat waar wanneer omdat welke zoals ze zij hij onze deelnemers personen programma vergelijkingsgroep
schatting opzet dagen maanden jaar kwartaal gemeten resultaten gegevens vrijwilligers recidive rijen
waarde aantal aandeel uitkomst groep gemiddeld niets nieuwe zaak zaken schatten gebeurtenissen kenmerken
betrouwbaarheidsinterval gemiddelde verschil beschrijvend
""".split())
_MARKERS = {"nl": ENGLISH_MARKERS, "en": DUTCH_MARKERS}  # page language -> markers of the other one
_OWN = {"nl": DUTCH_MARKERS, "en": ENGLISH_MARKERS}
#: A sentence is flagged when it has at least LANGUAGE_MIN_MARKERS words of the other language, the other
#: language's share of the marker words exceeds LANGUAGE_SHARE, and it has at least LANGUAGE_MIN_WORDS words
#: (or consists of marker words only: "not estimable", "fewer than 60 participants").
LANGUAGE_MIN_WORDS = 4
LANGUAGE_MIN_MARKERS = 2
LANGUAGE_SHARE = 0.5

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
_BLOCK = frozenset({"p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "div", "caption", "figcaption",
                    "pre", "dd", "dt", "tr", "table", "section", "header", "footer", "main", "nav", "aside",
                    "figure", "ul", "ol", "dl", "br", "summary", "details", "blockquote", "title", "label",
                    "button", "option", "article", "body", "html", "head", "hr"})
_HIDDEN = frozenset({"script", "style", "template", "noscript", "head"})
#: nbconvert's code input and prompts (only met when the audit pages are included)
_HIDDEN_CLASSES = ("jp-InputArea", "jp-InputPrompt", "jp-OutputPrompt", "input_area", "prompt")

_RAW = re.compile(r"(?<![\w.-])(-?inf|NaN|nan|NaT|Infinity|<NA>)(?![\w-])")
_RAW_BOOL = re.compile(r"(?<![\w-])(True|False|None)(?![\w-])(?!\s+[a-z])")
_REPR = re.compile(r"\b(?:array|Timestamp|Timedelta|Series|DataFrame|Decimal|datetime\.date|datetime|np\.\w+|"
                   r"Index|Categorical)\(|\{'|\['|\bdtype\b|object at 0x|<bound method|\bName: \w+, |"
                   r"\d+ rows\s*[×x]\s*\d+ columns")
_DECIMALS = re.compile(r"(?<![\w.,])\d+[.,]\d{4,}(?![\w])")
_THOUSANDS = re.compile(r"^\d{1,3}([.,])\d{3}(\1\d{3})+$")  # 1.234.567 is not a float
# the editors' to-do markers, spelt in parts so that a search of the code for unfinished work does not
# find this checker itself
_EDITOR_MARKS = "|".join(rf"\b{w}\b" for w in ("TO" + "DO", "FIX" + "ME", "X" * 3))
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{[A-Za-z_][\w.]*\}|" + _EDITOR_MARKS + "|"
                          r"\b(?:than|dan|least|minstens|below|onder|above|boven)\s+threshold\b")
_MACHINE = re.compile(r"(?<![\w./-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/-]|\.\w)")
_QUARTER = r"(?:{y}\s*[-‑ ]?\s*[QK]{q}|[QK]{q}\s*[-‑ ]?\s*{y}|{q}e\s+kwartaal\s+{y}|kwartaal\s+{q}\s+{y}|" \
           r"(?:first|second|third|fourth|eerste|tweede|derde|vierde)\s+(?:quarter|kwartaal)\s+(?:of\s+)?{y})"
_ORDINAL = {"1": "first|eerste", "2": "second|tweede", "3": "third|derde", "4": "fourth|vierde"}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_IDENTIFIER = re.compile(r"\S*[A-Za-z0-9][_./@][A-Za-z0-9]\S*")  # machine names, file names, addresses
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_PART_SPLIT = re.compile(r";\s+|:\s+|\s+[–—]\s+")


class _Page(HTMLParser):
    """What the checks need from one page: lang, title, main, images, tables and text blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.title: str | None = None
        self.has_main = False
        self.images: list[dict[str, str | None]] = []
        self.tables: list[bool] = []  # per table: has a <th>
        self.blocks: list[tuple[str, str]] = []  # (element, text)
        self._stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self._open_tables: list[int] = []
        self._buf: list[str] = []
        self._in_title = False
        self._title_buf: list[str] = []
        self._cell: str = ""

    def _hidden(self) -> bool:
        return any(h for _, h in self._stack)

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if text:
            self.blocks.append((self._cell or "text", text))
        self._buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html" and self.lang is None:
            self.lang = (a.get("lang") or "").strip() or None
        if tag == "main" or (a.get("role") or "").strip() == "main":
            self.has_main = True
        if tag in _BLOCK:
            self._flush()
        if tag == "title":
            self._in_title = True
        elif tag == "img" and not self._hidden():
            self.images.append({"src": a.get("src"), "alt": a.get("alt")})
        elif tag == "table":
            self.tables.append(False)
            self._open_tables.append(len(self.tables) - 1)
        elif tag == "th" and self._open_tables:
            self.tables[self._open_tables[-1]] = True
        if tag in ("td", "th"):
            self._cell = tag
        if tag not in _VOID:
            classes = (a.get("class") or "").split()
            hides = tag in _HIDDEN or any(c in _HIDDEN_CLASSES for c in classes) or "hidden" in a
            self._stack.append((tag, hides))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self._flush()
        if tag == "title":
            self._in_title = False
            self.title = " ".join("".join(self._title_buf).split())
        if tag == "table" and self._open_tables:
            self._open_tables.pop()
        if tag in ("td", "th"):
            self._cell = ""
        if any(t == tag for t, _ in self._stack):
            while self._stack:
                if self._stack.pop()[0] == tag:
                    break

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_buf.append(data)
        elif not self._hidden():
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _around(text: str, m: re.Match, width: int = 40) -> str:
    start, end = max(0, m.start() - width), min(len(text), m.end() + width)
    return _short(("…" if start else "") + text[start:end] + ("…" if end < len(text) else ""), 2 * width + 30)


def other_language_share(sentence: str, language: str) -> tuple[int, int, int]:
    """Words, other-language markers and own-language markers of a sentence.

    Machine names, file names and addresses (``issues_by_rule.csv``) are left out. Words written in capitals (HR, RMST, CI/BI, WODC), capitalised words after the first (proper
    names: Justice Data Lab, Kaplan-Meier) and words with digits (programme ids, quarters) are not
    counted as markers; they still count as words.

    Returns
    -------
    (words, other, own) : tuple of int
    """
    if language not in _MARKERS:
        raise ValueError(f"language must be 'nl' or 'en', got {language!r}")
    words = _WORD.findall(_IDENTIFIER.sub(" ", sentence))
    other = own = 0
    for i, w in enumerate(words):
        if (len(w) > 1 and w.isupper()) or (i > 0 and w[:1].isupper()):
            continue
        lw = w.lower()
        other += lw in _MARKERS[language]
        own += lw in _OWN[language]
    return len(words), other, own


def is_other_language(sentence: str, language: str) -> bool:
    """True when ``sentence`` reads as the other language than ``language`` (thresholds
    :data:`LANGUAGE_MIN_WORDS`, :data:`LANGUAGE_MIN_MARKERS`, :data:`LANGUAGE_SHARE`)."""
    n, other, own = other_language_share(sentence, language)
    if other < LANGUAGE_MIN_MARKERS or other / (other + own) <= LANGUAGE_SHARE:
        return False
    return n >= LANGUAGE_MIN_WORDS or other == n  # a short fragment counts when every word is a marker


def _other_language_units(text: str, language: str) -> list[str]:
    """Sentences of ``text`` in the other language; a sentence that is not is searched part by part
    (parts separated by ";", ":" or a dash: an English note after a Dutch label)."""
    out = []
    for sentence in (s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()):
        if is_other_language(sentence, language):
            out.append(sentence)
        else:
            out.extend(p for p in (p.strip() for p in _PART_SPLIT.split(sentence)) if is_other_language(p, language))
    return out


def _quarter_pattern(quarter: str) -> re.Pattern | None:
    m = re.fullmatch(r"(\d{4})Q([1-4])", quarter)
    if not m:
        return None
    y, q = m.groups()
    body = _QUARTER.replace("(?:first|second|third|fourth|eerste|tweede|derde|vierde)", f"(?:{_ORDINAL[q]})")
    return re.compile(body.format(y=y, q=q), re.IGNORECASE)


def _text_findings(page: str, blocks: list[tuple[str, str]], language: str | None) -> list[dict]:
    out: list[dict] = []

    def add(check: str, detail: str) -> None:
        out.append({"check": check, "page": page, "detail": detail})

    for _element, text in blocks:
        for m in _RAW.finditer(text):
            add("raw_value", f"{m.group(1)!r} in: {_around(text, m)}")
        for m in _RAW_BOOL.finditer(text):
            add("raw_value", f"{m.group(1)!r} in: {_around(text, m)}")
        for m in _REPR.finditer(text):
            add("python_repr", f"{m.group(0)!r} in: {_around(text, m)}")
        for m in _DECIMALS.finditer(text):
            if not _THOUSANDS.match(m.group(0)):
                add("decimals", f"{m.group(0)} in: {_around(text, m)}")
        for m in _PLACEHOLDER.finditer(text):
            add("placeholder", f"{m.group(0)!r} in: {_around(text, m)}")
        for m in _MACHINE.finditer(text):
            add("machine_name", f"{m.group(0)!r} in: {_around(text, m)}")
        if language in _MARKERS:
            for s in _other_language_units(text, language):
                add("language", f"not {'Dutch' if language == 'nl' else 'English'}: {_short(s)}")
    return out


def _alt_problem(src: str | None, alt: str | None) -> str | None:
    if alt is None:
        return "no alt attribute"
    clean = re.sub(r"[\W_]+", " ", alt).strip().lower()
    if not clean:
        return "empty alt"
    name = Path(str(src or "").split("?")[0]).name.lower()
    stem = Path(name).stem
    if clean in GENERIC_ALT or (name and clean in {re.sub(r"[\W_]+", " ", x).strip() for x in (name, stem)}):
        return f"generic alt {alt!r}"
    return None


def check_page(path: str | Path, page: str | None = None, quarter: str | None = None,
               programme: str | None = None, programme_names: dict[str, str] | None = None,
               default_language: str | None = None) -> list[dict]:
    """Findings of one HTML page (see the module docstring for the checks).

    Parameters
    ----------
    path : path
        The page.
    page : str, optional
        Its name in the findings (default: the path).
    quarter : str, optional
        ``YYYYQn`` the title must name.
    programme : str, optional
        Programme id the title must name (or its name from ``programme_names``).
    programme_names : dict, optional
        Programme id -> name.
    default_language : {"nl", "en"}, optional
        Language assumed for the text checks when the page has no ``lang``.
    """
    path = Path(path)
    name = page or str(path)
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    out: list[dict] = []

    def add(check: str, detail: str) -> None:
        out.append({"check": check, "page": name, "detail": detail})

    if not parser.lang:
        add("lang", "<html> has no lang attribute")
    language = (parser.lang or default_language or "")[:2].lower() or None
    title = parser.title
    if not title:
        add("title", "no <title>")
    else:
        pat = _quarter_pattern(quarter) if quarter else None
        if pat is not None and not pat.search(title):
            add("title", f"title does not name the quarter {quarter}: {_short(title)}")
        if programme:
            names = [programme] + ([programme_names[programme]] if programme_names and programme in
                                   programme_names else [])
            if not any(n.lower() in title.lower() for n in names):
                add("title", f"title does not name the programme {programme}: {_short(title)}")
    if not parser.has_main:
        add("main", "no <main> landmark")
    for img in parser.images:
        problem = _alt_problem(img["src"], img["alt"])
        if problem:
            add("image_alt", f"{problem}: {_short(str(img['src'] or ''), 60)}")
    for i, has_th in enumerate(parser.tables, start=1):
        if not has_th:
            add("table_header", f"table {i} has no header cells (<th>)")
    alts = [("alt", str(img["alt"])) for img in parser.images if img["alt"]]
    out.extend(_text_findings(name, parser.blocks + alts, language))
    return out


def check_pages(quarter_dir: str | Path, include_audit: bool = False,
                programme_names: dict[str, str] | None = None) -> pd.DataFrame:
    """Check every HTML page of a published quarter (see the module docstring).

    Parameters
    ----------
    quarter_dir : path
        ``reports/<quarter>``; its name is the quarter the titles must name.
    include_audit : bool
        Also check the audit trail (``report.html``, the executed notebooks).
    programme_names : dict, optional
        Programme id -> name; a programme page's title may name either.

    Returns
    -------
    DataFrame
        Columns ``check``, ``page`` (relative to ``quarter_dir``), ``detail``; empty when clean.
    """
    root = Path(quarter_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"quarter folder not found: {root}")
    quarter = root.name
    programmes: set[str] = set()
    default_language = None
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
            quarter = str(m.get("quarter") or quarter)
            programmes = {str(p) for p in m.get("programmes") or []}
            default_language = str((m.get("parameters") or {}).get("language") or "")[:2] or None
        except (ValueError, AttributeError):
            pass
    rows: list[dict] = []
    for path in sorted(root.rglob("*.html")):
        if path.name == AUDIT_PAGE and not include_audit:
            continue
        rel = path.relative_to(root)
        if any(part.startswith(("_", ".")) for part in rel.parts[:-1]):
            continue  # the run's private and log folders (never published)
        parts = rel.parts[1:] if rel.parts[0] in LANGUAGES and len(rel.parts) > 1 else rel.parts  # <quarter>/en/...
        top = parts[0] if len(parts) > 1 else None
        programme = top if top and (top in programmes or (not programmes and top not in ("all", "validation"))) \
            else None
        rows.extend(check_page(path, rel.as_posix(), quarter, programme, programme_names, default_language))
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)
