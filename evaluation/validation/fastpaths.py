"""Fast paths of the validator: typing and testing text cells with Arrow and on raw bytes.

Every function here gives exactly what the plain pandas expression named in
its docstring gives (``tests/test_validate_speed_paths.py`` compares them on
awkward inputs); they only avoid Python-level loops over cells: strings are
typed once per distinct value (an Arrow dictionary), simple patterns and
set membership are tested on the UTF-8 bytes of the Arrow string buffers,
and duplicates are found through a hash of those bytes.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.schema import Contract

TYPED_TYPES = ("integer", "number", "boolean", "date")
"""Field types whose text is parsed into values (any other type stays text)."""

def _arrow(s: pd.Series) -> pd.Series:
    """Text as a pyarrow-backed string Series (vectorised string kernels)."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        return s
    return s.astype("string[pyarrow]")


def _mask(x: pd.Series) -> np.ndarray:
    """Nullable boolean -> NumPy bool (NA -> False); always a new array."""
    return _b(x)


def _b(x: Any) -> np.ndarray:
    """Boolean array from a possibly nullable comparison (NA -> False); always a new array."""
    arr = x.array if isinstance(x, pd.Series) else x
    # the two results comparisons give, without pandas' fillna (a copy and ~0.1 ms per call)
    if isinstance(arr, pd.arrays.BooleanArray):
        return arr.to_numpy(dtype=bool, na_value=False)
    if isinstance(arr, pd.arrays.NumpyExtensionArray):
        arr = np.asarray(arr)  # (no copy)
    if isinstance(arr, np.ndarray) and arr.dtype == bool:
        return arr.copy()
    if hasattr(x, "fillna"):
        x = x.fillna(False)
    return np.array(x, dtype=bool)



_INT_RE = r"[+-]?\d{1,18}"
_NUM_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUM_COMMA_RE = r"[+-]?\d+,\d+"
_DATE_GATE = {
    "%Y-%m-%d": r"\d{4}-\d{1,2}-\d{1,2}",
    "%d-%m-%Y": r"\d{1,2}-\d{1,2}-\d{4}",
    "%d/%m/%Y": r"\d{1,2}/\d{1,2}/\d{4}",
    "%Y/%m/%d": r"\d{4}/\d{1,2}/\d{1,2}",
}


def _pa_values(sa: pd.Series, mask: np.ndarray, pa_type) -> np.ndarray | None:
    """Cast the masked text cells with Arrow (C++); None if Arrow refuses one of them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(_arrow(sa).array)  # Arrow array behind the pandas string array
    try:
        return pc.cast(arr.filter(pa.array(mask)), pa_type).to_numpy(zero_copy_only=False)
    except pa.ArrowException:  # invalid value or a cast Arrow does not offer
        return None


def _subset_match(sa: pd.Series, where: np.ndarray, regex: str) -> np.ndarray:
    """``where & sa.fullmatch(regex)``, running the regex on the ``where`` rows only."""
    out = np.zeros(len(sa), dtype=bool)
    if where.all():
        return _mask(sa.str.fullmatch(regex))
    if where.any():
        idx = np.flatnonzero(where)
        out[idx] = _mask(sa.iloc[idx].str.fullmatch(regex))
    return out


def _dictionary(sa: pd.Series, enc=None) -> tuple[np.ndarray, pd.Series]:
    """``(codes, uniq)`` with ``uniq.iloc[codes]`` equal to ``sa`` (Arrow hash, nulls kept as a value).

    ``enc``: the same encoding made earlier (``pc.dictionary_encode(arr,
    null_encoding="encode")`` of the Arrow array of ``sa``, e.g. while the
    file was read: :attr:`evaluation.intake.read.RawTable.dictionaries`).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if enc is None:
        arr = pa.array(_arrow(sa).array)
        if isinstance(arr, pa.ChunkedArray):  # one dictionary for the whole column
            arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
        enc = pc.dictionary_encode(arr, null_encoding="encode")
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    uniq = pd.Series(pd.arrays.ArrowStringArray(enc.dictionary))
    return codes, uniq


def _expand(values: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``values`` taken at ``codes`` (dtype kept), with ``index``."""
    if isinstance(values.dtype, np.dtype):  # object, float64, datetime64: plain NumPy indexing
        return pd.Series(values.to_numpy()[codes], index=index, dtype=values.dtype, copy=False)
    return pd.Series(values.array.take(codes), index=index, copy=False)


def parse_column(
    text: pd.Series,
    ftype: str,
    contract: Contract,
    missing_values: list[str],
    decimal_comma: bool = False,
    return_text: bool = False,
    stripped: bool = False,
    encode: bool | None = None,
):
    """Type one text column.

    Returns ``(typed, missing, bad)``: the typed Series (dtype per
    docs/ARCHITECTURE.md, missing for missing or bad cells), the mask of
    missing cells and the mask of non-missing cells that are not of the type.
    With ``return_text`` also the stripped text (pyarrow string Series).
    Cells are stripped of surrounding whitespace first (``stripped=True``
    says the caller already did).

    Typing is cell by cell, so a column with repeated values is typed once per
    distinct value and the results are expanded to the rows (``encode=None``:
    when the column has fewer distinct values than half its length;
    ``True``/``False`` force either way; the result is the same).
    """
    sa = _arrow(text) if stripped else _arrow(text).str.strip()
    typed, missing, bad, _ = _parse_encoded(sa, ftype, contract, missing_values, decimal_comma, encode)
    return (typed, missing, bad, sa) if return_text else (typed, missing, bad)


def _parse_encoded(sa: pd.Series | None, ftype: str, contract: Contract, missing_values: list[str],
                   decimal_comma: bool, encode: bool | None, pre: tuple[np.ndarray, pd.Series] | None = None):
    """:func:`parse_column` on stripped text; also ``(codes, uniq, typed_uniq)`` when typed per distinct
    value, else None. ``pre``: the column already as ``(codes, stripped distinct values)`` (``sa`` unused)."""
    if pre is None and encode is not False and len(sa) > 1:
        codes, uniq = _dictionary(sa)
        if encode or 2 * len(uniq) <= len(sa):
            pre = (codes, uniq)
    if pre is not None:
        codes, uniq = pre
        typed_u, missing_u, bad_u = _parse_text(uniq, ftype, contract, missing_values, decimal_comma)
        typed = _expand(typed_u, codes, pd.RangeIndex(len(codes)) if sa is None else sa.index)
        return typed, _take_mask(missing_u, codes), _take_mask(bad_u, codes), (codes, uniq, typed_u)
    typed, missing, bad = _parse_text(sa, ftype, contract, missing_values, decimal_comma)
    return typed, missing, bad, None


def _text_mask(text: pd.Series, encoded: tuple | None, test) -> np.ndarray:
    """``test(text)`` (an elementwise NumPy bool mask), run once per distinct value when encoded."""
    if encoded is None:
        return test(text)
    return _take_mask(np.asarray(test(encoded[1]), dtype=bool), encoded[0])


def _take_mask(mask: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``mask[codes]`` (a new array), without the gather when ``mask`` is constant."""
    if not mask.any():
        return np.zeros(len(codes), dtype=bool)
    if mask.all():
        return np.ones(len(codes), dtype=bool)
    return mask[codes]


def _parse_text(sa: pd.Series, ftype: str, contract: Contract, missing_values: list[str], decimal_comma: bool):
    """:func:`parse_column` on stripped pyarrow text, without the distinct-value shortcut."""
    import pyarrow as pa

    missing = _isin_text(sa, list(missing_values) + [""])
    present = ~missing
    n = len(sa)
    bad = np.zeros(n, dtype=bool)
    idx = sa.index
    if ftype not in TYPED_TYPES:
        values = pa.array(sa.array)  # Arrow -> Python str directly (faster than pandas' astype)
        obj = values.to_numpy(zero_copy_only=False).astype(object, copy=False)
        obj[~present] = None
        typed = pd.Series(obj, index=idx, dtype=object)
    elif ftype == "integer":
        ok = present & _mask(sa.str.fullmatch(_INT_RE))
        vals = np.zeros(n, dtype=np.int64)
        if ok.any():
            cast = _pa_values(sa.str.lstrip("+"), ok, pa.int64())
            vals[ok] = cast if cast is not None else sa[ok].astype(object).to_numpy().astype(np.int64)
        typed = pd.Series(pd.arrays.IntegerArray(vals, ~ok), index=idx)
        bad = present & ~ok
    elif ftype == "number":
        ok = present & _mask(sa.str.fullmatch(_NUM_RE))
        t = sa
        if decimal_comma:
            comma = _subset_match(sa, present & ~ok, _NUM_COMMA_RE)
            if comma.any():
                t = sa.str.replace(",", ".", regex=False)
                ok = ok | comma
        vals = np.full(n, np.nan)
        if ok.any():
            cast = _pa_values(t.str.lstrip("+"), ok, pa.float64())
            vals[ok] = cast if cast is not None else t[ok].astype(object).to_numpy().astype(float)
        finite = np.isfinite(vals)
        bad = present & ~(ok & finite)
        vals[~finite] = np.nan
        typed = pd.Series(vals, index=idx, dtype="float64")
    elif ftype == "boolean":
        is_true = _isin_text(sa, list(contract.true_values))
        is_false = _isin_text(sa, list(contract.false_values))
        ok = present & (is_true | is_false)
        typed = pd.Series(pd.arrays.BooleanArray(is_true & ok, ~ok), index=idx)
        bad = present & ~ok
    else:  # date
        out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        todo = present.copy()
        for fmt in contract.date_formats:
            if not todo.any():
                break
            gate = _DATE_GATE.get(fmt)
            cand = _subset_match(sa, todo, gate) if gate else todo.copy()
            if not cand.any():
                continue
            parsed = pd.to_datetime(sa[cand].astype(object), format=fmt, errors="coerce").to_numpy(
                dtype="datetime64[ns]"
            )
            good = ~np.isnat(parsed)
            where = np.flatnonzero(cand)[good]
            out[where] = parsed[good]
            todo[where] = False
        bad = todo
        typed = pd.Series(out, index=idx)
    return typed, missing, bad


# ------------------------------------------------- byte-level checks on Arrow text
#
# Columns meant to hold distinct values (identifiers), where the per-distinct-value
# shortcut does not apply, are checked on their Arrow string buffers with NumPy
# instead of per-cell Python/regex calls. Every shortcut is exact: the pattern check
# only takes patterns it can decide byte by byte (else the regex runs), the
# duplicate check uses a hash only to find candidate rows, whose values are then
# compared as Python strings, and the missing-value, strip and length gates only
# skip work that provably changes nothing (tests/test_validate_speed_paths.py
# compares each with the general path).


def _offsets(text: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``(offsets, data)`` of a pyarrow string Series without copying the bytes: cell ``i``
    is ``data[offsets[i]:offsets[i + 1]]`` (UTF-8). None when the column holds nulls or
    is not plain Arrow text (callers then use the general path)."""
    import pyarrow as pa

    arr = pa.array(_arrow(text).array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.null_count or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    bufs = arr.buffers()
    if len(arr) == 0 or bufs[1] is None:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    odt = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offs = np.frombuffer(bufs[1], dtype=odt)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
    return offs, data


def _string_buffers(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(starts, lengths, data)`` of a pyarrow string Series: cell ``i`` is the UTF-8
    bytes ``data[starts[i]:starts[i] + lengths[i]]``; ``data`` (a copy) has 64 zero
    bytes of padding at the end. None as for :func:`_offsets`."""
    od = _offsets(text)
    if od is None:
        return None
    offs, raw = od
    offs = offs.astype(np.int64)
    lo, hi = (int(offs[0]), int(offs[-1])) if len(offs) else (0, 0)
    data = np.zeros(hi - lo + 64, dtype=np.uint8)
    if hi > lo:
        data[: hi - lo] = raw[lo:hi]
    return offs[:-1] - lo, np.diff(offs), data


def _needs_strip(text: pd.Series) -> bool:
    """False when no cell can start or end with whitespace: every non-empty cell's
    first and last byte is printable ASCII other than space (then stripping is a
    no-op). True when in doubt (nulls, non-ASCII edges)."""
    od = _offsets(text)
    if od is None:
        return True
    offs, data = od
    full = offs[1:] > offs[:-1]
    if not full.any():
        return False
    edges = np.concatenate([data[offs[:-1][full]], data[offs[1:][full] - 1]])
    return not bool(((edges > 0x20) & (edges < 0x7F)).all())


def _isin_text(text: pd.Series, values: list[str]) -> np.ndarray:
    """``text.isin(values)`` as a NumPy mask; on long columns only the cells whose byte
    length equals that of some value are compared (lengths from the Arrow offsets)."""
    od = _offsets(text) if len(text) > 1000 else None
    if od is None:
        if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
            import pyarrow as pa
            import pyarrow.compute as pc

            arr = pa.array(text.array)  # (pandas' isin adds ~0.2 ms per call: many calls on short text)
            strs = [v for v in values if isinstance(v, str)]  # (other values never equal a text cell)
            found = pc.is_in(arr, value_set=pa.array(strs, type=arr.type))  # (nulls: False, as isin)
            return found.to_numpy(zero_copy_only=False) & pc.is_valid(arr).to_numpy(zero_copy_only=False)
        return _mask(text.isin(values))
    lengths = np.diff(od[0])
    cand = np.flatnonzero(np.isin(lengths, [len(v.encode("utf-8")) for v in values]))
    out = np.zeros(len(text), dtype=bool)
    if len(cand):
        out[cand] = _mask(text.iloc[cand].isin(values))
    return out


_WORD_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _text_hash(starts: np.ndarray, lengths: np.ndarray, data: np.ndarray) -> np.ndarray:
    """A 64-bit hash per cell of its length and first 64 bytes (equal text -> equal hash;
    unequal text may collide, so callers compare candidates exactly)."""
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))  # 8 bytes at each offset
    n_words = min((int(lengths.max()) + 7) // 8, 8) if len(lengths) else 0
    h = lengths.astype(np.uint64)
    for j in range(n_words):  # (data has 64 bytes of padding: starts + 8 * j stays inside)
        rest = lengths if n_words == 1 else np.clip(lengths - 8 * j, 0, 8)
        w = words[starts + 8 * j if j else starts] & _WORD_MASKS[rest]
        h = (h * np.uint64(0x9E3779B97F4A7C15)) ^ w
    return h


def _hash_candidates(bufs: tuple, rows: np.ndarray | None = None) -> np.ndarray:
    """Positions (ascending) among ``rows`` (bool mask; None: all rows) of the cells of the text with
    buffers ``bufs`` (:func:`_string_buffers`) that may equal another cell among ``rows``: a superset
    of the duplicates (and of their first occurrences) found through a hash, for :func:`_duplicated_text`.

    Rows whose hash is unique (found by sorting the hashes) cannot be
    duplicates; a 4 MB table of hash buckets (multiply-shift: the top bits of
    ``h * odd constant``) gives a cheap superset of the rows with a repeated
    hash. NumPy work only (it releases the GIL: it may run on a second thread).
    """
    h = _text_hash(*bufs)
    pos = None if rows is None or rows.all() else np.flatnonzero(rows)
    if pos is not None:
        h = h[pos]
    srt = np.sort(h)
    repeated = srt[1:][srt[1:] == srt[:-1]]
    if not len(repeated):
        return np.zeros(0, dtype=np.intp)
    mix, shift = np.uint64(0x9E3779B97F4A7C15), np.uint64(64 - 22)
    bucket = np.zeros(1 << 22, dtype=bool)
    bucket[((repeated * mix) >> shift).astype(np.intp)] = True
    cand = np.flatnonzero(bucket[((h * mix) >> shift).astype(np.intp)])
    return cand if pos is None else pos[cand]


def _duplicated_text(bufs: tuple | None, values: np.ndarray, rows: np.ndarray,
                     candidates: np.ndarray | None = None) -> np.ndarray:
    """``pd.Series(values).duplicated(keep="first")`` restricted to ``rows`` (bool mask).

    ``values`` are the cells of the text with buffers ``bufs`` (from
    :func:`_string_buffers`) as Python objects, equal text <=> equal value.
    Only the rows of :func:`_hash_candidates` can be duplicates; they are
    compared exactly, in file order. ``candidates``: that function's result
    for all rows (``rows=None``), if already at hand (a superset of its
    result for ``rows``: a value equal to a candidate's has its hash, so the
    exact comparison on the candidates among ``rows`` gives the same answer).
    ``bufs=None``: all rows are compared as Python objects.
    """
    out = np.zeros(len(values), dtype=bool)
    if bufs is not None:
        if candidates is None:
            pos = _hash_candidates(bufs, rows)
        else:
            pos = candidates if rows.all() else candidates[rows[candidates]]
    else:
        pos = np.flatnonzero(rows)
    if len(pos):
        out[pos] = pd.Series(values[pos]).duplicated(keep="first").to_numpy()
    return out


_CLASS_RE = re.compile(r"\[((?:[A-Za-z0-9_.:\-])+)\]")


def _char_class(body: str) -> np.ndarray | None:
    """Byte lookup table of a simple ASCII character class body (``A-Za-z0-9_.:-``)."""
    table = np.zeros(256, dtype=bool)
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = ord(body[i]), ord(body[i + 2])
            if lo > hi:
                return None
            table[lo: hi + 1] = True
            i += 3
        else:
            table[ord(body[i])] = True
            i += 1
    return table


def _simple_pattern(regex: str) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """``(first, rest, lo, hi)`` when ``regex`` is ``[first][rest]{lo,hi}`` with plain ASCII
    classes (the contract's identifier pattern), else None."""
    m = re.fullmatch(r"(\[[^\]\\\[]+\])(\[[^\]\\\[]+\])\{(\d+),(\d+)\}", regex)
    if m is None:
        return None
    classes = []
    for part in (m.group(1), m.group(2)):
        cm = _CLASS_RE.fullmatch(part)
        table = _char_class(cm.group(1)) if cm else None
        if table is None:
            return None
        classes.append(table)
    lo, hi = int(m.group(3)), int(m.group(4))
    return (classes[0], classes[1], lo, hi) if lo <= hi else None


def _fullmatch(text: pd.Series, regex: str, bufs: tuple | None = None) -> np.ndarray:
    """``text.str.fullmatch(regex)`` as a NumPy mask (missing -> False).

    Byte by byte for the simple patterns of :func:`_simple_pattern` on long
    columns (ASCII classes: a cell with any other byte, e.g. a non-ASCII
    letter, does not match, as with the regex), else with the regex. ``bufs``:
    the text's :func:`_string_buffers`, if already at hand.
    """
    simple = _simple_pattern(regex) if len(text) > 1000 else None
    if simple is not None and bufs is None:
        bufs = _string_buffers(text)
    if simple is None or bufs is None:
        return _mask(text.str.fullmatch(regex))
    first, rest, lo, hi = simple
    starts, lengths, data = bufs
    ok = (lengths >= 1 + lo) & (lengths <= 1 + hi)
    ok &= first[data[starts]]
    # bytes outside the class of the cell's tail: translate to 1 (else 0) in one C pass
    flags = data[: len(data) - 64].tobytes().translate(bytes((~rest).astype(np.uint8)))
    n_bad = flags.count(1)
    if n_bad:
        if n_bad < 10_000:  # a few: C-speed find from one to the next
            bad, at = np.empty(n_bad, dtype=np.int64), -1
            for i in range(n_bad):
                at = flags.find(1, at + 1)
                bad[i] = at
        else:
            bad = np.flatnonzero(np.frombuffer(flags, dtype=np.uint8))
        cell = np.searchsorted(starts, bad, side="right") - 1  # empty cells hold no bytes
        ok[cell[bad > starts[cell]]] = False  # (a cell's first byte is checked against ``first``)
    return ok


def _byte_length_is(text: pd.Series, k: int) -> bool:
    """Whether some cell of the (pyarrow) text has exactly ``k`` bytes (UTF-8)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    od = _offsets(text)
    if od is not None:
        return bool((np.diff(od[0]) == k).any())
    return bool(pc.any(pc.equal(pc.binary_length(pa.array(_arrow(text).array)), k)).as_py())
