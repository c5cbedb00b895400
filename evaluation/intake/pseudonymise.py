"""Keyed pseudonymisation of raw exports (``evaluation pseudonymise``).

Identifiers never reach the analysis (docs/methods.md, section 'Disclosure control'). This step runs
at the data supplier, before the intake is handed over:

* the id columns of every table (``participant_id``, ``volunteer_id``,
  ``match_id``, ``contact_id``, ``event_id``, ``session_id``, ``circle_id``:
  source-system record numbers are linkable to the source) are replaced by
  keyed pseudonyms ``HMAC-SHA256(key, entity + ":" + value)``, shown as a
  prefix per entity and the first 16 hex characters (64 bits), e.g.
  ``P-3f9a0c1d2e4b5a69``. Prefixes: ``P`` participants, ``V`` volunteers,
  ``M`` matches, ``C`` contacts, ``S`` volunteer_support events, ``J``
  justice events, ``R`` rj_sessions, ``K`` circles (COSA "kring"), ``X``
  any other ``*_id`` column. A foreign key gets the pseudonym of the entity
  it refers to, so linkage across tables is kept; with the same key the same
  source value gets the same pseudonym in every quarter. Values are compared
  exactly after stripping surrounding spaces (``p001`` and ``P001`` differ).
  ``programme_id`` is a public programme code and is kept.
* full dates of birth (``geboortedatum``, ``date_of_birth``, ``dob``, ...)
  are reduced to ``birth_year`` (in tables whose contract has ``birth_year``;
  elsewhere dropped). A ``birth_year`` already present must agree.
* direct identifiers (names, addresses, postcodes, phone, e-mail, BSN, ...:
  the contract's ``x_identifier_columns``, compared after lower-casing and
  removing spaces, dots, dashes and underscores, as the validator does) are
  dropped.
* columns not in the contract (often free-text notes, which can hold names)
  are dropped unless ``keep_unknown=True``.

The output is a UTF-8 CSV intake (plus copies of ``programmes.yaml`` and
``extract.yaml``) written with owner-only permissions, and a report of counts
per table and column (``pseudonymisation_report.json``; never values). The key
is a secret kept outside the data folders; without it pseudonyms cannot be
reversed or recomputed. 64-bit pseudonyms make a collision between two of
100 000 people about 3e-10 likely; a collision is detected and refused.

Pseudonymised data are still personal data (GDPR recital 26): the output
folder is not shareable (see docs/privacy.md).

References
----------
Krawczyk H, Bellare M, Canetti R (1997). HMAC: keyed-hashing for message
authentication. RFC 2104. ENISA (2019). Pseudonymisation techniques and best
practices, section 5.2 (keyed hash functions).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.contract.identifiers import normalise_column_name
from evaluation.contract.schema import load_contract
from evaluation.intake.files import looks_like_key_file  # noqa: F401 (re-exported)
from evaluation.intake.private import make_missing_dirs, private_dir, write_private
from evaluation.intake.read import IntakeError, read_intake

PSEUDONYM_HEX_CHARS = 16
MIN_KEY_BYTES = 32
KEY_HELP = (
    "Create a secret key once, keep it outside the data folders and back it up safely "
    "(the same key gives the same pseudonyms in every quarter):\n"
    "    mkdir -p ~/.config/evaluation && chmod 700 ~/.config/evaluation\n"
    '    python -c "import secrets; print(secrets.token_hex(32))" > ~/.config/evaluation/pseudonym.key\n'
    "    chmod 600 ~/.config/evaluation/pseudonym.key\n"
    "or: evaluation pseudonymise --new-key ~/.config/evaluation/pseudonym.key"
)

ENTITY_PREFIX: dict[str, str] = {
    "participants": "P",
    "volunteers": "V",
    "matches": "M",
    "contacts": "C",
    "volunteer_support": "S",
    "justice_events": "J",
    "rj_sessions": "R",
    "circle": "K",
}
DATE_OF_BIRTH_NAMES = {"dateofbirth", "birthdate", "geboortedatum", "dob", "geboortedag"}
PUBLIC_ID_COLUMNS = {"programme_id"}
REPORT_FILE = "pseudonymisation_report.json"
COPIED_FILES = ("programmes.yaml", "extract.yaml")


def normalise_name(name: str) -> str:
    """Column name as the validator compares it (:func:`evaluation.contract.identifiers.normalise_column_name`)."""
    return normalise_column_name(name)


# ----------------------------------------------------------------------------
# Keys
# ----------------------------------------------------------------------------


def create_key_file(path: str | os.PathLike) -> Path:
    """Create a new random key file (64 hex characters) with mode 0600.

    The file is created with ``os.open(..., O_CREAT | O_EXCL, 0o600)``; an
    existing file is never overwritten (losing a key breaks linkage across
    quarters). Missing parent folders are created with mode 0700.
    """
    p = Path(path).expanduser()
    make_missing_dirs(p.parent)
    try:
        # O_EXCL: never an existing file, never through a link (unlike write_private, which replaces)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError as exc:
        raise FileExistsError(f"key file {p} already exists; it is not overwritten (a new key breaks linkage with earlier quarters)") from exc
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
    return p


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def load_key(key_file: str | os.PathLike | None, forbidden_dirs: tuple[str | os.PathLike, ...] = ()) -> bytes:
    """Read the secret key; refuse a missing, weak or misplaced key file.

    A file of 64+ hex characters is decoded as hex; any other content is used
    as bytes and must be at least 32 bytes long. A key that does not look random
    (:func:`key_weakness`: a passphrase, all-zero or repeated bytes, a counting
    sequence) is refused with the reason. A key file inside one of
    ``forbidden_dirs`` (the input and output folders) is refused; a key file
    readable by group or others gives a warning. The key is never printed.
    """
    if key_file is None:
        raise ValueError("no key file given (--key-file KEY).\n" + KEY_HELP)
    p = Path(key_file).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"key file {p} not found.\n" + KEY_HELP)
    rp = p.resolve()
    for d in forbidden_dirs:
        if _inside(rp, Path(d).expanduser().resolve()):
            raise ValueError(
                f"key file {p} lies inside the data folder {d}; keep the key outside every data folder "
                "(it would travel with the data and make the pseudonyms reversible)"
            )
    mode = stat.S_IMODE(rp.stat().st_mode)
    if mode & 0o077:
        warnings.warn(
            f"key file {p} is readable by group or others (mode {mode:o}); restrict it: chmod 600 {p}",
            UserWarning,
            stacklevel=2,
        )
    raw = rp.read_bytes().strip()
    if re.fullmatch(rb"[0-9a-fA-F]{64,}", raw) and len(raw) % 2 == 0:
        key = bytes.fromhex(raw.decode("ascii"))
    else:
        key = raw
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"key file {p} holds a key of {len(key)} bytes; at least {MIN_KEY_BYTES} random bytes are needed.\n" + KEY_HELP)
    weakness = key_weakness(key, hex_encoded=key is not raw)
    if weakness:
        raise ValueError(f"key file {p} does not hold a random key: {weakness}. A key that can be guessed "
                         "makes every pseudonym reversible.\n" + KEY_HELP)
    return key


#: fewest distinct byte values in a key of MIN_KEY_BYTES random bytes that we accept: 32 random bytes hold
#: about 30 distinct values, and fewer than 16 happens with probability below 1e-12
MIN_DISTINCT_BYTES = 16


def key_weakness(key: bytes, hex_encoded: bool = False) -> str | None:
    """Why ``key`` is not a random key, or None when it looks random.

    Refused: fewer than :data:`MIN_KEY_BYTES` bytes; one byte repeated; fewer than
    :data:`MIN_DISTINCT_BYTES` distinct byte values (``deadbeef`` repeated); bytes that repeat with a
    short period or rise or fall by a constant step (``00 01 02 ...``); and, unless the file held
    hex, printable text (a passphrase: its entropy is far below that of random bytes, so a published
    hash of anything keyed with it could be guessed offline). Each check fails a truly random
    32-byte key with probability below 1e-12.
    """
    if len(key) < MIN_KEY_BYTES:
        return f"{len(key)} bytes, fewer than {MIN_KEY_BYTES}"
    if len(set(key)) == 1:
        return f"every byte is 0x{key[0]:02x}"
    if len(set(key)) < MIN_DISTINCT_BYTES:
        return f"only {len(set(key))} distinct byte values in {len(key)} bytes"
    for period in range(1, len(key) // 2 + 1):
        if all(key[i] == key[i - period] for i in range(period, len(key))):
            return f"a pattern of {period} bytes repeated"
    steps = {(key[i] - key[i - 1]) % 256 for i in range(1, len(key))}
    if len(steps) == 1:
        return "a counting sequence"
    if not hex_encoded:
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and text.isprintable():
            return ("printable text, like a passphrase; write 64 hex characters made by "
                    "secrets.token_hex(32) or --new-key instead")
    return None


def key_fingerprint(key: bytes) -> str:
    """Short, non-reversible fingerprint of a key, to check that quarters used the same key."""
    return hmac.new(key, b"evaluation-pseudonym-key-fingerprint", hashlib.sha256).hexdigest()[:12]


def pseudonym(value: str, entity: str, key: bytes) -> str:
    """Keyed pseudonym of one source identifier.

    ``PREFIX + "-" + HMAC-SHA256(key, entity + ":" + value.strip())[:16]``
    with the prefix of :data:`ENTITY_PREFIX` (``X`` for other entities).
    """
    msg = f"{entity}:{str(value).strip()}".encode()
    digest = hmac.digest(key, msg, "sha256").hex()[:PSEUDONYM_HEX_CHARS]
    return f"{ENTITY_PREFIX.get(entity, 'X')}-{digest}"


# ----------------------------------------------------------------------------
# Reading raw exports
# ----------------------------------------------------------------------------


def read_tables(folder: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read the tables of an export folder as text DataFrames, keyed by contract table name.

    Uses :func:`evaluation.intake.read.read_intake` (CSV in any Dutch-office
    dialect, Parquet, or one Excel workbook; all cells as text), so the raw
    export must hold ``programmes.yaml`` and ``extract.yaml`` too. Each
    DataFrame keeps the source row number in ``_row``; ``attrs["source"]`` is
    the file it came from. Decimal commas (``;``-separated CSV) in number
    fields are turned into decimal points, because the output is
    ``,``-separated.
    """
    contract = load_contract()
    try:
        raw = read_intake(folder)
    except IntakeError as exc:
        raise ValueError(str(exc)) from exc
    tables: dict[str, pd.DataFrame] = {}
    for name, t in raw.tables.items():
        df = t.data.copy()
        if t.decimal_comma:
            numbers = {f["name"] for f in contract.resources[name].fields if f["type"] == "number"}
            for col in df.columns:
                if col in numbers:
                    df[col] = df[col].astype(str).str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
        df.attrs["source"] = str(t.path)
        tables[name] = df
    return tables


# ----------------------------------------------------------------------------
# Pseudonymisation
# ----------------------------------------------------------------------------


def id_entities(table: str) -> dict[str, str]:
    """Id columns of a contract table and the entity whose pseudonym they carry."""
    res = load_contract().resources[table]
    out: dict[str, str] = {}
    pk = res.primary_key
    for fk in res.foreign_keys:
        fields = fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]]
        if len(fields) == 1:
            out[fields[0]] = fk["reference"]["resource"]
    for name in res.field_names:
        if name in out or name in PUBLIC_ID_COLUMNS or not name.endswith("_id"):
            continue
        out[name] = table if pk == [name] else name[: -len("_id")]
    return out


def _parse_date(value: str, formats: list[str]) -> datetime | None:
    for fmt in formats + ["%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M", "%Y%m%d"]:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def pseudonymise_tables(
    tables: dict[str, pd.DataFrame],
    key: bytes,
    keep_unknown: bool = False,
    source: str = "",
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Pseudonymise text tables in memory (see module docstring).

    Returns
    -------
    (tables, report)
        The new tables (text cells, contract column names) and a report with
        columns ``table``, ``column``, ``action``, ``count`` (counts only).
    """
    contract = load_contract()
    ident = {normalise_name(n) for n in contract.identifier_column_names} | DATE_OF_BIRTH_NAMES
    missing_tokens = set(contract.missing_values)
    formats = contract.date_formats
    report: list[dict[str, Any]] = []
    seen: dict[str, dict[str, str]] = {}
    out: dict[str, pd.DataFrame] = {}
    for table, raw in tables.items():
        if table not in contract.resources:
            raise ValueError(f"{source}{table}: not a table of the data contract")
        res = contract.resources[table]
        where = str(raw.attrs.get("source", f"{source}{table}"))
        rows = raw["_row"].tolist() if "_row" in raw.columns else list(range(2, len(raw) + 2))
        by_norm = {normalise_name(f): f for f in res.field_names}
        df = raw.drop(columns=["_row"], errors="ignore").copy()
        df.columns = [str(c).strip() for c in df.columns]
        renames = {c: by_norm[normalise_name(c)] for c in df.columns if normalise_name(c) in by_norm and c != by_norm[normalise_name(c)]}
        if renames:
            df = df.rename(columns=renames)
            for old, new in renames.items():
                report.append({"table": table, "column": new, "action": f"renamed_from:{old}", "count": len(df)})
        dupes = df.columns[df.columns.duplicated()].tolist()
        if dupes:
            raise ValueError(f"{where}: column(s) {dupes} occur more than once (after normalising the names)")
        report.append({"table": table, "column": "", "action": "rows", "count": len(df)})

        def present(series: pd.Series) -> pd.Series:
            s = series.astype(str).str.strip()
            return ~s.isin(missing_tokens)

        # dates of birth -> birth_year
        for col in [c for c in df.columns if normalise_name(c) in DATE_OF_BIRTH_NAMES and c not in res.field_names]:
            has = present(df[col])
            if "birth_year" in res.field_names:
                years: list[str] = []
                for i, (val, ok) in enumerate(zip(df[col].tolist(), has.tolist(), strict=True)):
                    if not ok:
                        years.append("")
                        continue
                    dt = _parse_date(str(val).strip(), formats)
                    if dt is None:
                        raise ValueError(
                            f"{where}, row {rows[i]}, field {col!r}: cannot read the date of birth "
                            f"(expected one of {formats})"
                        )
                    years.append(str(dt.year))
                if "birth_year" in df.columns:
                    old = df["birth_year"].astype(str).str.strip()
                    for i, (o, y) in enumerate(zip(old.tolist(), years, strict=True)):
                        if y and o and o not in missing_tokens and o != y:
                            raise ValueError(
                                f"{where}, row {rows[i]}, field 'birth_year': {o} disagrees with the year of {col!r}"
                            )
                    df["birth_year"] = [o if (o and o not in missing_tokens) else y for o, y in zip(old.tolist(), years, strict=True)]
                else:
                    df.insert(list(df.columns).index(col), "birth_year", years)
                report.append({"table": table, "column": col, "action": "reduced_to_birth_year", "count": int(has.sum())})
            else:
                report.append({"table": table, "column": col, "action": "dropped_identifier", "count": int(has.sum())})
            df = df.drop(columns=[col])

        # direct identifiers
        for col in [c for c in df.columns if normalise_name(c) in ident and c not in res.field_names]:
            report.append({"table": table, "column": col, "action": "dropped_identifier", "count": int(present(df[col]).sum())})
            df = df.drop(columns=[col])

        # unknown columns
        if not keep_unknown:
            for col in [c for c in df.columns if c not in res.field_names]:
                report.append({"table": table, "column": col, "action": "dropped_unknown_column", "count": int(present(df[col]).sum())})
                df = df.drop(columns=[col])

        # id columns
        for col, entity in id_entities(table).items():
            if col not in df.columns:
                continue
            stripped = df[col].astype(str).str.strip()
            has = ~stripped.isin(missing_tokens)
            reverse = seen.setdefault(entity, {})
            mapping = {}
            for v in pd.unique(stripped[has]):
                ps = pseudonym(v, entity, key)
                if reverse.setdefault(ps, v) != v:
                    raise ValueError(
                        f"{where}: pseudonym collision for entity {entity!r} in column {col!r}; "
                        "increase PSEUDONYM_HEX_CHARS"
                    )
                mapping[v] = ps
            df[col] = stripped.map(mapping).where(has, df[col])
            report.append({"table": table, "column": col, "action": "pseudonymised", "count": int(has.sum())})
        out[table] = df
    return out, pd.DataFrame(report, columns=["table", "column", "action", "count"])


def pseudonymise_intake(
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    key_file: str | os.PathLike | None,
    keep_unknown: bool = False,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Pseudonymise a raw export folder into a new intake folder.

    Parameters
    ----------
    in_dir : path
        Raw export: contract tables as CSV (any Dutch-office dialect),
        Parquet or one Excel workbook, plus ``programmes.yaml`` and
        ``extract.yaml``.
    out_dir : path
        New intake folder (created with mode 0700; files 0600, UTF-8 CSV).
        Must differ from ``in_dir``; existing table files are only replaced
        with ``overwrite=True``.
    key_file : path
        Secret key (see :func:`load_key`); refused inside ``in_dir`` or
        ``out_dir``.
    keep_unknown : bool, default False
        Keep columns that are not in the contract (dropped by default: free
        text may hold names).

    Returns
    -------
    DataFrame
        Report: ``table``, ``column``, ``action``, ``count`` (also written as
        ``pseudonymisation_report.json`` in ``out_dir`` with the key's
        fingerprint, never the key).
    """
    src, dst = Path(in_dir), Path(out_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"input folder {src} does not exist")
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"output folder {dst} is the input folder; write the pseudonymised intake to a new folder")
    key = load_key(key_file, forbidden_dirs=(src, dst))
    tables = read_tables(src)
    if not tables:
        raise ValueError(f"{src}: no tables of the data contract found (expected e.g. participants.csv)")
    new_tables, report = pseudonymise_tables(tables, key, keep_unknown=keep_unknown, source=f"{src}/")
    private_dir(dst)
    existing = [p.name for p in dst.glob("*.csv")]
    if existing and not overwrite:
        raise FileExistsError(f"output folder {dst} already holds {sorted(existing)}; use --overwrite to replace them")
    resources = load_contract().resources
    for table, df in new_tables.items():
        name = Path(resources[table].descriptor.get("path", f"{table}.csv")).name
        write_private(dst / name, df)
    skipped = []
    for p in sorted(src.iterdir()):
        if p.name == "extract.yaml":
            write_private(dst / p.name, _extract_as_csv(p))
        elif p.name in COPIED_FILES:
            write_private(dst / p.name, p.read_bytes())
        elif p.is_file() and not (p.suffix.lower() in {".csv", ".parquet"} and p.stem.lower() in {t.lower() for t in tables}) and p.suffix.lower() not in {".xlsx", ".xlsm"}:
            skipped.append(p.name)
    for name in skipped:
        report.loc[len(report)] = {"table": "", "column": name, "action": "file_not_copied", "count": 1}
    meta = {
        "key_fingerprint": key_fingerprint(key),
        "pseudonym": f"PREFIX-HMAC-SHA256[:{PSEUDONYM_HEX_CHARS}]",
        "created": datetime.now().isoformat(timespec="seconds"),
        "actions": report.to_dict(orient="records"),
    }
    write_private(dst / REPORT_FILE, json.dumps(meta, indent=2, ensure_ascii=False))
    return report


def _extract_as_csv(path: Path) -> bytes:
    """``extract.yaml`` as bytes, with ``format`` set to ``csv`` when it said otherwise (the output is CSV)."""
    import yaml

    raw = path.read_bytes()
    meta = yaml.safe_load(raw.decode("utf-8-sig"))
    if isinstance(meta, dict) and meta.get("format", "csv") != "csv":
        meta["format"] = "csv"
        return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).encode("utf-8")
    return raw


# ----------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``evaluation pseudonymise``."""
    p.add_argument("in_dir", nargs="?", help="raw export folder (tables with identifiers)")
    p.add_argument("out_dir", nargs="?", help="new folder for the pseudonymised intake")
    p.add_argument("--key-file", help="secret key file, outside the data folders")
    p.add_argument("--new-key", metavar="KEY", help="create a new key file (mode 0600) and stop")
    p.add_argument("--keep-unknown", action="store_true", help="keep columns not in the contract (dropped by default)")
    p.add_argument("--overwrite", action="store_true", help="replace tables already in OUT_DIR")


def main(args: argparse.Namespace) -> int:
    """Run ``evaluation pseudonymise``; returns the exit code (0 ok, 2 refused)."""
    if args.new_key:
        try:
            p = create_key_file(args.new_key)
        except FileExistsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"created key file {p} (mode 0600). Keep it outside the data folders and back it up safely.")
        return 0
    if not args.in_dir or not args.out_dir:
        print("error: give IN_DIR and OUT_DIR (or --new-key KEY)", file=sys.stderr)
        return 2
    try:
        report = pseudonymise_intake(args.in_dir, args.out_dir, args.key_file, keep_unknown=args.keep_unknown, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"pseudonymised intake written to {args.out_dir}")
    print(report.to_string(index=False))
    print("Check it with: evaluation validate " + str(args.out_dir))
    return 0

