"""Scanning report folders for identifiers and row-level data before they are shared.

:func:`scan_outputs` searches every file of a report folder for identifier values of the intake,
BSN-like numbers and per-person tables (columns named like ids), including text chunks of PNG
files, cells of spreadsheets and images embedded in HTML or notebooks;
:func:`assert_no_identifiers` raises :class:`~evaluation.publish.cells.DisclosureError` with the
findings (values masked). See docs/methods.md, section 'Disclosure control'.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.contract.identifiers import is_bsn
from evaluation.contract.schema import load_contract
from evaluation.intake.pseudonymise import read_tables
from evaluation.publish.cells import DisclosureError

#: Identifier columns of the contract and the kind under which their values are scanned.
ID_KINDS: tuple[str, ...] = (
    "participant_id",
    "volunteer_id",
    "match_id",
    "contact_id",
    "event_id",
    "session_id",
    "circle_id",
)


# ----------------------------------------------------------------------------
# Scanning report folders for row-level data
# ----------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
_SEP_RE = re.compile(r"[_.:\-]")
_ROW_LEVEL_SUFFIXES = {".parquet", ".feather", ".arrow", ".pkl", ".pickle", ".sav", ".dta", ".rds", ".rdata", ".sqlite", ".db"}
_ZIP_SUFFIXES = {".xlsx", ".docx", ".pptx", ".odt", ".ods"}
_MIN_NUMERIC_LEN = 6


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s._\-]", "", str(name)).lower()


def _id_column_names() -> set[str]:
    names = {_normalise_name(k) for k in ID_KINDS}
    try:
        names |= {_normalise_name(n) for n in load_contract().identifier_column_names}
    except (FileNotFoundError, KeyError):  # pragma: no cover - contract always present in the repo
        pass
    return names


def collect_identifiers(validation_result_or_intake_dir: Any) -> dict[str, set[str]]:
    """Collect the identifier values of an intake, by kind.

    Parameters
    ----------
    validation_result_or_intake_dir : ValidationResult, mapping or path
        An object with ``tables`` (and optionally ``quarantine``) mappings of
        table name -> DataFrame, such a mapping itself, or an intake folder
        (its ``*.csv`` / ``*.parquet`` / ``*.xlsx`` tables are read as text).

    Returns
    -------
    dict
        kind (one of :data:`ID_KINDS`) -> set of values (stripped strings).
        Quarantined rows are included: their identifiers must not leak either.
    """
    frames: list[pd.DataFrame] = []
    obj = validation_result_or_intake_dir
    if isinstance(obj, (str, os.PathLike)):
        frames = list(read_tables(Path(obj)).values())
    elif isinstance(obj, Mapping):
        frames = [t for t in obj.values() if isinstance(t, pd.DataFrame)]
    elif hasattr(obj, "tables"):
        for attr in ("tables", "quarantine"):
            tabs = getattr(obj, attr, None) or {}
            frames += [t for t in tabs.values() if isinstance(t, pd.DataFrame)]
    else:
        raise TypeError(f"collect_identifiers: expected a ValidationResult, a mapping of tables or a folder, got {type(obj).__name__}")
    found: dict[str, set[str]] = {k: set() for k in ID_KINDS}
    for df in frames:
        for col in df.columns:
            if col in found:
                vals = df[col].dropna().astype(str).str.strip()
                found[col].update(vals[vals != ""].tolist())
    return found


_BSN_PIECE_RE = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
_DECIMAL_RE = re.compile(r"^[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?$")


def _bsn_candidates(token: str) -> list[str]:
    """The pieces of ``token`` that could hold a BSN.

    A decimal number (``4341672.279999999``) is one number: its fractional
    digits are digits of a computed value, not an identifier, so only the
    whole part is a candidate (a BSN stored as a float, ``123456782.0``, is
    still found). Any other token is split at its separators.
    """
    if _DECIMAL_RE.match(token):
        return [token.split(".", 1)[0]]
    return _SEP_RE.split(token)
def _match_token(token: str, lookup: Mapping[str, str], prefixes: set[str]) -> str | None:
    """The identifier in ``token``: the token itself or a run of its separator-delimited pieces.

    ``prefixes`` holds every piece-prefix of every identifier (``"P"``,
    ``"P-3f9a"`` for ``"P-3f9a"``), so runs are only extended while they can
    still become an identifier (a trie walk over pieces).
    """
    if token in lookup:
        return token
    pieces = _SEP_RE.split(token)
    if len(pieces) == 1:
        return None
    seps = _SEP_RE.findall(token)
    for a in range(len(pieces)):
        run = pieces[a]
        if run not in prefixes:
            continue
        if run in lookup:
            return run
        for b in range(a + 1, len(pieces)):
            run = run + seps[b - 1] + pieces[b]
            if run not in prefixes:
                break
            if run in lookup:
                return run
    return None


def _piece_prefixes(values: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for v in values:
        pieces = _SEP_RE.split(v)
        seps = _SEP_RE.findall(v)
        run = pieces[0]
        out.add(run)
        for i in range(1, len(pieces)):
            run = run + seps[i - 1] + pieces[i]
            out.add(run)
    return out


def _mask(value: str) -> str:
    keep = 2 if len(value) > 4 else 1
    return value[:keep] + "*" * (len(value) - keep)


def _png_text(data: bytes) -> list[tuple[str, str]]:
    """Text chunks (tEXt, zTXt, iTXt) of a PNG file as (keyword, text)."""
    out: list[tuple[str, str]] = []
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return [("(not a PNG)", data.decode("latin-1"))]
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        try:
            if ctype == b"tEXt":
                key, _, text = body.partition(b"\x00")
                out.append((key.decode("latin-1"), text.decode("latin-1")))
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                out.append((key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")))
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                comp_flag = rest[0]
                rest = rest[2:]
                _lang, _, rest = rest.partition(b"\x00")
                _tkey, _, text = rest.partition(b"\x00")
                if comp_flag:
                    text = zlib.decompress(text)
                out.append((key.decode("latin-1"), text.decode("utf-8", errors="replace")))
        except (zlib.error, IndexError):
            out.append((ctype.decode("latin-1"), body.decode("latin-1")))
        if ctype == b"IEND":
            break
    return out


_TH_RE = re.compile(r"<th[^>]*>\s*([^<]{1,80}?)\s*</th>", re.IGNORECASE)


def scan_outputs(
    folder: str | os.PathLike,
    identifiers: Mapping[str, Iterable[str]] | Iterable[str],
    extensions: Iterable[str] | None = None,
    bsn_check: bool = True,
) -> pd.DataFrame:
    """Search every file of an output folder for identifiers and per-person tables.

    Text is split into tokens (``[A-Za-z0-9][A-Za-z0-9_.:-]*``); each token
    and each run of its separator-delimited pieces is looked up in one set of
    all identifiers, so the cost is linear in the size of the files and does
    not grow with the number of identifiers.

    Scanned: text files (.ipynb, .html, .csv, .json, .svg, .txt, .md and any
    other file decodable as text), the text chunks of PNG files (also PNGs
    embedded as ``data:`` URIs or as notebook image outputs), the members of
    zip-based office files (.xlsx, .docx). Files in row-level formats
    (.parquet, .feather, .pkl, ...) are findings by themselves. Column headers
    of CSV files and HTML ``<th>`` cells named like identifiers
    (``participant_id``, ``bsn``, ...) are findings of kind ``id_column``:
    a per-person table.

    Parameters
    ----------
    folder : path
        Report folder (searched recursively).
    identifiers : mapping kind -> values, or iterable of values
        From :func:`collect_identifiers`. Purely numeric identifiers shorter
        than 6 digits cannot be told apart from counts and years; they are
        skipped with a warning.
    extensions : iterable of str, optional
        Limit the scan to these suffixes (e.g. ``{".csv", ".html"}``).
    bsn_check : bool, default True
        Also report any 9-digit number passing the BSN 11-check (kind
        ``bsn_like``), whether or not it is in ``identifiers``: a citizen
        service number must never reach a report. About 1 in 11 random
        9-digit numbers passes the check; aggregate reports rarely contain
        9-digit numbers, so a finding deserves a look.

    Returns
    -------
    DataFrame
        Columns ``file`` (relative to ``folder``), ``identifier_kind``,
        ``value`` (masked: first characters and asterisks), ``location``
        (``line N`` or ``PNG chunk KEY`` or ``member NAME``).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"scan_outputs: folder {root} does not exist")
    if isinstance(identifiers, Mapping):
        pairs = [(str(v).strip(), str(kind)) for kind, vals in identifiers.items() for v in vals]
    else:
        pairs = [(str(v).strip(), "identifier") for v in identifiers]
    lookup: dict[str, str] = {}
    skipped = 0
    for v, kind in pairs:
        if not v:
            continue
        if v.isdigit() and len(v) < _MIN_NUMERIC_LEN:
            skipped += 1
            continue
        lookup.setdefault(v, kind)
    if skipped:
        warnings.warn(
            f"scan_outputs: {skipped} purely numeric identifier(s) shorter than {_MIN_NUMERIC_LEN} digits "
            "cannot be told apart from counts and were not searched for; pseudonymise the intake "
            "(evaluation pseudonymise) so that identifiers are distinctive",
            UserWarning,
            stacklevel=2,
        )
    id_cols = _id_column_names()
    exts = None if extensions is None else {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    rows: list[dict[str, str]] = []

    prefixes = _piece_prefixes(lookup)

    def scan_text(text: str, rel: str, where: str, check_headers: bool, key_path: str | None = None) -> None:
        newlines: list[int] | None = None

        def line_of(pos: int) -> int:
            nonlocal newlines
            if newlines is None:
                newlines = [m.start() for m in re.finditer("\n", text)]
            return bisect.bisect_right(newlines, pos) + 1

        # look up the distinct tokens once; then locate only the tokens that hold an identifier
        hits: dict[str, tuple[str, str]] = {}
        if lookup or bsn_check:
            for t in set(_TOKEN_RE.findall(text)):
                hit = _match_token(t, lookup, prefixes) if lookup else None
                if hit is not None:
                    hits[t] = (hit, lookup[hit])
                elif bsn_check and _BSN_PIECE_RE.search(t):
                    bsn = next((x for x in _bsn_candidates(t) if is_bsn(x)), None)
                    if bsn is not None:
                        hits[t] = (bsn, "bsn_like")
        located: set[tuple[int, str, str]] = set()
        for t, (hit, kind) in hits.items():
            # a token never starts right after a letter or digit, and it ends at the first non-token character
            pattern = re.compile(r"(?<![A-Za-z0-9])" + re.escape(t) + r"(?![A-Za-z0-9_.:\-])")
            located |= {(line_of(m.start()), kind, hit) for m in pattern.finditer(text)}
        for line, kind, hit in sorted(located):
            at = f"key {key_path}" if key_path is not None else f"line {line}"
            rows.append({"file": rel, "identifier_kind": kind, "value": _mask(hit), "location": f"{where}{at}"})
        for m in _TH_RE.finditer(text):
            if _normalise_name(m.group(1)) in id_cols:
                rows.append({"file": rel, "identifier_kind": "id_column", "value": m.group(1),
                             "location": f"{where}line {line_of(m.start())}"})
        if check_headers:
            first = text.lstrip("\ufeff").splitlines()[:1]
            if first:
                for cell in re.split(r"[,;\t|]", first[0]):
                    name = cell.strip().strip('"').strip("'")
                    if _normalise_name(name) in id_cols:
                        rows.append({"file": rel, "identifier_kind": "id_column", "value": name, "location": f"{where}header"})

    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if exts is not None and suffix not in exts:
            continue
        rel = str(path.relative_to(root))
        if suffix in _ROW_LEVEL_SUFFIXES:
            rows.append({"file": rel, "identifier_kind": "row_level_file", "value": suffix, "location": "file"})
            continue
        data = path.read_bytes()
        if suffix == ".png":
            for key, text in _png_text(data):
                scan_text(text, rel, f"PNG chunk {key}, ", False)
        elif suffix in _ZIP_SUFFIXES and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    scan_text(zf.read(name).decode("utf-8", errors="replace"), rel, f"member {name}, ", False)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            leaves = _json_leaves(text) if suffix == ".json" else None
            if leaves is None:
                scan_text(text, rel, "", suffix in {".csv", ".tsv", ".txt"})
            else:
                # read with its context: each key and string value on its own; numbers that measure
                # something (sizes, row counts, seconds) are not identifiers and are not scanned
                for key_path, leaf in leaves:
                    scan_text(leaf, rel, "", False, key_path=key_path)
            # embedded images: data URIs (HTML, SVG, Markdown) and notebook image outputs
            for k, b64 in enumerate(_embedded_pngs(text, suffix == ".ipynb"), start=1):
                try:
                    png = base64.b64decode(b64)
                except (ValueError, binascii.Error):
                    continue
                for key, chunk in _png_text(png):
                    scan_text(chunk, rel, f"embedded image {k}, PNG chunk {key}, ", False)
    return pd.DataFrame(rows, columns=["file", "identifier_kind", "value", "location"])


#: JSON keys whose numbers measure something (file sizes, row counts, durations); never identifiers
_MEASURE_KEY_RE = re.compile(
    r"^(?:bytes|size|rows|seconds|duration|elapsed|timeout|n|count|total|lines|jobs|workers|seed)$"
    r"|_(?:bytes|size|rows|seconds|duration|timeout|count|total|n|values|flagged|exact|findings)$"
    r"|^(?:n|rows|count|bytes|size)_"
)


def _json_leaves(text: str) -> list[tuple[str, str]] | None:
    """The keys and scalar values of a JSON document as (key path, text), or None if it is not JSON.

    Object keys are returned too (an identifier could be a key). Booleans and null are left out;
    a number is left out when its key measures something (:data:`_MEASURE_KEY_RE`, e.g.
    ``intake.files[3].bytes``), because a 9-digit file size can pass the BSN eleven-test.
    """
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, str, Any]] = [("$", "", doc)]
    while stack:
        path, key, node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                sub = f"{path}.{k}"
                out.append((sub, str(k)))
                stack.append((sub, str(k), v))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", key, v) for i, v in enumerate(node))
        elif isinstance(node, str):
            out.append((path, node))
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            if not _MEASURE_KEY_RE.search(key.lower()):
                out.append((path, repr(node) if isinstance(node, float) else str(node)))
    out.sort(key=lambda kv: kv[0])
    return out


_DATA_URI_PNG_RE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\s]+)")


def _embedded_pngs(text: str, notebook: bool) -> list[str]:
    """Base64 PNGs inside a text file: ``data:image/png;base64,...`` and notebook ``image/png`` outputs."""
    found = [m.group(1) for m in _DATA_URI_PNG_RE.finditer(text)]
    if notebook:
        try:
            nb = json.loads(text)
        except ValueError:
            return found
        for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
            for out in cell.get("outputs", []) or []:
                png = (out.get("data") or {}).get("image/png")
                if png:
                    found.append("".join(png) if isinstance(png, list) else str(png))
    return found


def assert_no_identifiers(
    folder: str | os.PathLike,
    identifiers: Mapping[str, Iterable[str]] | Iterable[str],
    extensions: Iterable[str] | None = None,
    bsn_check: bool = True,
) -> None:
    """Scan ``folder`` with :func:`scan_outputs`; raise :class:`DisclosureError` on any finding.

    The run calls this before a report folder may be shared. The message
    names the files and kinds (values masked, never in full).
    """
    findings = scan_outputs(folder, identifiers, extensions, bsn_check=bsn_check)
    if len(findings):
        raise DisclosureError(
            f"{folder} contains row-level data or identifiers and must not be shared "
            f"({len(findings)} finding(s)): {describe_findings(findings)}",
            findings,
        )


#: What each kind of finding means, for the operator who has to act on it.
KIND_REASONS = {
    "bsn_like": "a 9-digit number that passes the BSN eleven-test",
    "id_column": "a column named like an identifier (a per-person table)",
    "row_level_file": "a file in a row-level data format",
}


def describe_findings(findings: pd.DataFrame, max_places: int = 5) -> str:
    """Findings of :func:`scan_outputs` in words: per file and kind, the count, why, and where.

    E.g. ``manifest.json: 1 x bsn_like (a 9-digit number that passes the BSN eleven-test)
    at key $.intake.supplier``. Values stay masked; at most ``max_places`` locations per file and kind.
    """
    parts = []
    for (file, kind), g in findings.groupby(["file", "identifier_kind"], sort=True):
        reason = KIND_REASONS.get(str(kind), f"a {kind} value of the intake")
        places = list(dict.fromkeys(str(x) for x in g["location"]))
        where = ", ".join(places[:max_places]) + (f" and {len(places) - max_places} more" if len(places) > max_places else "")
        parts.append(f"{file}: {len(g)} x {kind} ({reason}) at {where}")
    return "; ".join(parts)
