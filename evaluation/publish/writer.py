"""The one way out: every file a report folder holds is written here.

A notebook or the quarterly run hands its results, headline, aggregate tables
and figures to :func:`publish_outputs`; this module applies, in order,

1. disclosure control (:func:`evaluation.publish.suppression.protect_results`
   on the results, :func:`~evaluation.publish.sentences.check_sentences` on
   the headline) with the one threshold :data:`THRESHOLD`;
2. the identifier check: a table with a column named like an identifier
   (``participant_id``, ``volunteer_id``, ...) is refused, because nothing
   row-level may leave the package;
3. CSV formula neutralisation (:func:`neutralise_csv_cell`), so that no
   spreadsheet evaluates a cell a supplier controls;
4. file modes: files are created readable by others (0o644), never
   executable, and never written through a symbolic link.

See ``docs/methods.md`` (disclosure rules) and ``docs/privacy.md``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.cells import DisclosureError
from evaluation.publish.identifiers import ID_KINDS
from evaluation.publish.safe_html import inert_notebook
from evaluation.publish.sentences import check_sentences
from evaluation.publish.suppression import protect_results

THRESHOLD = SUPPRESSION_THRESHOLD
"""Minimum count that is published (counts 1..THRESHOLD-1 are shown as ``<THRESHOLD``)."""

HEADLINE_STATUSES = frozenset({"ok", "warning", "not_estimable"})

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")


def neutralise_csv_cell(value: Any) -> Any:
    """Return ``value`` so that no spreadsheet reads it as a formula.

    A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage
    return gets a leading apostrophe (OWASP "CSV injection"), unless it is a
    plain number such as ``-1.5`` (which a spreadsheet reads as a number, not a
    formula). A carriage return inside a cell becomes a line feed: the CSV writer quotes a cell
    holding a line feed, but not one holding a lone CR, which a spreadsheet would read as the start
    of a new row (whose first cell could be a formula). Non-text values are returned unchanged.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        value = "'" + value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def neutralise_table(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are neutralised (see :func:`neutralise_csv_cell`)."""
    out = df.copy()
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            out.isetitem(i, col.map(neutralise_csv_cell))
    out.columns = [neutralise_csv_cell(str(c)) for c in out.columns]
    return out


#: ``*_id`` columns that name no person: the programme an estimate describes, and the run that made it
NOT_PERSON_IDS = frozenset({"programme_id", "run_id"})


def _identifier_columns(df: pd.DataFrame) -> list[str]:
    kinds = {k.lower() for k in ID_KINDS}
    return [str(c) for c in df.columns
            if str(c).lower() in kinds or (str(c).lower().endswith("_id") and str(c).lower() not in NOT_PERSON_IDS)]


def _open_new(path: Path, binary: bool = False):
    """Open ``path`` for writing, refusing to follow a symbolic link at the final component."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    try:
        os.fchmod(fd, 0o644)
    except OSError:  # pragma: no cover - platforms without fchmod
        pass
    return os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8",
                     newline=None if binary else "")


def write_table(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write an aggregate table as CSV (identifier columns refused, formulas neutralised)."""
    path = Path(path)
    ids = _identifier_columns(df)
    if ids:
        raise ValueError(f"table {path.stem!r} has identifier column(s) {ids}: row-level data may not be published")
    with _open_new(path) as fh:
        neutralise_table(df).to_csv(fh, index=False)
    return path


def write_parquet(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write an aggregate table as Parquet (identifier columns refused, text cells neutralised as in
    :func:`write_table`, so that a table exported from it to a spreadsheet is safe; 0644; no symlink followed)."""
    path = Path(path)
    ids = _identifier_columns(df)
    if ids:
        raise ValueError(f"table {path.stem!r} has identifier column(s) {ids}: row-level data may not be published")
    with _open_new(path, binary=True) as fh:
        neutralise_table(df).to_parquet(fh, index=False)
    return path


#: file names that hold a secret key: their hash would let a reader test guesses of the key offline
_KEY_NAME = re.compile(r"(?:^|[^a-z])(?:key|keys|secret|secrets|sleutel|passphrase|password|wachtwoord)(?:[^a-z]|$)"
                       r"|\.(?:key|pem|p12|pfx|jks|keystore|asc|gpg)$", re.IGNORECASE)
_HASH_KEYS = ("sha256", "sha1", "md5", "sha512", "hash", "digest")


def _key_hashes(data: Any, where: str = "$") -> list[str]:
    """Places in ``data`` where a hash is recorded next to a file named like a key (see :data:`_KEY_NAME`)."""
    found: list[str] = []
    if isinstance(data, Mapping):
        name = next((str(data[k]) for k in ("file", "path", "name") if isinstance(data.get(k), str)), None)
        if name is not None and any(h in data for h in _HASH_KEYS) and _KEY_NAME.search(name.rsplit("/", 1)[-1]):
            found.append(f"{where} ({name})")
        for k, v in data.items():
            found += _key_hashes(v, f"{where}.{k}")
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            found += _key_hashes(v, f"{where}[{i}]")
    return found


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as UTF-8 JSON (sorted as given, indented).

    Refuses (:class:`~evaluation.publish.cells.DisclosureError`) data that records a hash of a file
    named like a secret key (``*.key``, ``pseudonym_key.txt``, ``secret``, ...): a published SHA-256 of
    a key lets anyone test guesses of the key offline and so reverse the pseudonyms.
    """
    path = Path(path)
    leaks = _key_hashes(data)
    if leaks:
        raise DisclosureError(
            f"{path.name} would publish the hash of a file named like a secret key at {'; '.join(leaks)}: "
            "remove the key from the intake (a pseudonym key belongs outside every data folder) and run again")
    with _open_new(path) as fh:
        fh.write(json.dumps(data, ensure_ascii=False, indent=2))
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text that is already safe for its format (rendered HTML, Markdown)."""
    path = Path(path)
    with _open_new(path) as fh:
        fh.write(text)
    return path


def write_notebook(path: str | os.PathLike, text: str) -> Path:
    """Write an executed notebook (JSON text) whose display outputs are inert
    (:func:`evaluation.publish.safe_html.inert_notebook`: HTML rebuilt from inert elements, no scripts)."""
    return write_text(path, inert_notebook(text))


def write_figure(output_dir: str | os.PathLike, name: str, fig: Any, dpi: int = 110, alt: str | None = None,
                 title: str | None = None, data: pd.DataFrame | None = None,
                 threshold: int = THRESHOLD) -> list[Path]:
    """Save a matplotlib figure as ``NAME.png`` and ``NAME.svg`` (no software or date metadata).

    With ``alt`` (what the figure shows, in the run's language) also ``NAME.json`` =
    ``{"title", "alt", "data"}``, the figure's sidecar read by the quarter site; with ``data`` (the
    numbers the figure plots, already protected) also ``NAME_data.csv`` through :func:`write_table`
    (identifier columns refused, formulas neutralised), named in the sidecar. The alt text passes
    :func:`~evaluation.publish.sentences.check_sentences` (no count of fewer than ``threshold`` people).
    Returns the paths written, PNG first.
    """
    out = Path(output_dir)
    if data is not None and alt is None:
        raise ValueError(f"figure {name!r}: a data table is published beside a figure with its alt text; give alt")
    if alt is not None:
        if not str(alt).strip():
            raise ValueError(f"figure {name!r}: alt text is empty")
        check_sentences([str(alt), str(title or "")], threshold=threshold)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    with _open_new(png, binary=True) as fh:
        fig.savefig(fh, format="png", dpi=dpi, metadata={"Software": None})
    with _open_new(svg, binary=True) as fh:
        fig.savefig(fh, format="svg", metadata={"Date": None})
    paths = [png, svg]
    if alt is not None:
        data_name = None
        if data is not None:
            data_name = f"{name}_data.csv"
            paths.append(write_table(out / data_name, pd.DataFrame(data)))
        paths.append(write_json(out / f"{name}.json", {"title": str(title or ""), "alt": str(alt), "data": data_name}))
    return paths


def figure_parts(value: Any) -> dict[str, Any]:
    """A figure as handed to :func:`publish_outputs`: a Figure, or a dict ``{"figure", "alt", "title",
    "data"}``; returns the dict (alt, title and data None when not given)."""
    if isinstance(value, Mapping):
        if "figure" not in value:
            raise ValueError("a figure given as a dict needs its 'figure'")
        unknown = set(value) - {"figure", "alt", "title", "data"}
        if unknown:
            raise ValueError(f"a figure given as a dict has unknown keys {sorted(unknown)}")
        return {"alt": None, "title": None, "data": None, **dict(value)}
    return {"figure": value, "alt": None, "title": None, "data": None}


def publish_outputs(
    output_dir: str | os.PathLike,
    results: pd.DataFrame,
    headline: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame] | None = None,
    figures: Mapping[str, Any] | None = None,
    threshold: int = THRESHOLD,
    dpi: int = 110,
) -> dict[str, Any]:
    """Publish a notebook's outputs into ``output_dir`` through disclosure control.

    Writes ``results.csv`` (``RESULT_COLUMNS`` through
    :func:`~evaluation.publish.suppression.protect_results`), ``headline.json``
    (status ``ok``, ``warning`` or ``not_estimable``; sentences checked with
    :func:`~evaluation.publish.sentences.check_sentences`), ``NAME.csv`` for
    every aggregate table and ``NAME.png`` + ``NAME.svg`` for every figure. A figure is a Figure or a
    dict ``{"figure", "alt", "title", "data"}`` (see :func:`figure_parts`); with alt text it also gets
    its sidecar ``NAME.json`` and, with data, ``NAME_data.csv`` (:func:`write_figure`).

    Returns a dict name -> path (figures: list of paths).
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if headline.get("status") not in HEADLINE_STATUSES:
        raise ValueError(f"headline status must be ok, warning or not_estimable, got {headline.get('status')!r}")
    check_sentences(headline.get("sentences", []), threshold=threshold)
    written: dict[str, Any] = {}
    written["results"] = write_table(out / "results.csv", protect_results(results, threshold=threshold))
    written["headline"] = write_json(out / "headline.json", dict(headline))
    for name, df in (tables or {}).items():
        written[name] = write_table(out / f"{name}.csv", df)
    for name, value in (figures or {}).items():
        f = figure_parts(value)
        written[name] = write_figure(out, name, f["figure"], dpi=dpi, alt=f["alt"], title=f["title"], data=f["data"],
                                     threshold=threshold)
    return written
