"""The validator's byte-level and per-key shortcuts give exactly the plain results.

Issue 2 (validator >= 30x faster than frictionless) added shortcuts that work on
the Arrow string buffers of long columns (unique check by hash + exact compare,
identifier pattern byte by byte, missing-value and whitespace gates), on the
parent key index (lookups, foreign keys, ``parent_period`` in NumPy) and in the
CSV reader (UTF-8 files parsed by Arrow without decoding the file in Python).
Each test compares a shortcut with the general code path it replaces (forced
by switching the shortcut off) on inputs chosen to break it: padding,
non-ASCII letters, values differing only after the bytes the hash reads, hash
collisions forced by a constant hash, empty cells, open periods, every CSV
dialect of the intake.
"""

import numpy as np
import pandas as pd
import pytest
from _intake_fixtures import copy_clean, read_text_table, write_text_table

import evaluation.intake.read as intake
import evaluation.validation.fastpaths as V
import evaluation.validation.validate as VV
from evaluation.contract.schema import load_contract

CONTRACT = load_contract()
ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"  # the contract's identifier pattern without ^...$

TRICKY_IDS = [
    "", "a", "k1", "k1 ", " k1", "k 1", "k1", "é", "e\u0301", "ké1", "K1", "k1\t", "k_1.2:3-4",
    "_k1", "-k1", ".k1", "1", "9z", "a" * 64, "a" * 65, "b" * 63 + "é", "x" * 64 + "1", "x" * 64 + "2",
    "x" * 80 + "1", "x" * 80 + "2", "y" * 8, "y" * 9, "y" * 16, "y" * 17, "k\x00", "k", "日本", "k1\n",
]


def _cells(seed: int, n: int = 3000) -> pd.Series:
    """Long pyarrow text column drawing (with repeats) from TRICKY_IDS plus distinct ids."""
    rng = np.random.default_rng(seed)
    vals = np.array(TRICKY_IDS + [f"id{i}" for i in range(200)], dtype=object)
    return pd.Series(rng.choice(vals, size=n), dtype="string[pyarrow]")


# ------------------------------------------------------------------ unique check


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("constant_hash", [False, True])
def test_duplicated_text_equals_pandas(seed, constant_hash, monkeypatch):
    text = _cells(seed)
    values = text.to_numpy(dtype=object)
    rows = np.random.default_rng(seed).random(len(text)) < 0.9  # some rows are not compared
    if constant_hash:  # every cell collides: the exact comparison alone must decide
        monkeypatch.setattr(V, "_text_hash", lambda starts, lengths, data: np.zeros(len(starts), dtype=np.uint64))
    got = V._duplicated_text(V._string_buffers(text), values, rows)
    # reference: pandas on the compared rows only (rows not compared cannot be duplicates or originals)
    ref = np.zeros(len(text), dtype=bool)
    ref[rows] = pd.Series(values[rows]).duplicated(keep="first").to_numpy()
    np.testing.assert_array_equal(got, ref)
    assert ref.any() and not ref.all()


def test_duplicated_text_tells_apart_values_equal_in_the_hashed_bytes():
    # the hash reads the length and the first 64 bytes: these differ only at byte 81
    a, b = "x" * 80 + "1", "x" * 80 + "2"
    text = pd.Series([a, b, a, b, b], dtype="string[pyarrow]")
    got = V._duplicated_text(V._string_buffers(text), text.to_numpy(dtype=object), np.ones(5, dtype=bool))
    assert got.tolist() == [False, False, True, True, True]


# ---------------------------------------------------------------- pattern check


@pytest.mark.parametrize("regex", [ID_PATTERN, "[a-c][0-9x-]{2,3}", "[A-Z][a-z]{0,0}"])
def test_byte_level_pattern_equals_regex(regex):
    assert V._simple_pattern(regex) is not None  # the byte path is really used
    text = _cells(3)
    got = V._fullmatch(text, regex)
    ref = text.str.fullmatch(regex).fillna(False).to_numpy(dtype=bool)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("regex", [r"\d{3}", "[^a][a-z]{0,3}", "[a-z]+", "[a-z][a-z]{2}", "[a\\-z][a]{0,1}"])
def test_patterns_outside_the_simple_form_use_the_regex(regex):
    assert V._simple_pattern(regex) is None
    text = _cells(4)
    ref = text.str.fullmatch(regex).fillna(False).to_numpy(dtype=bool)
    np.testing.assert_array_equal(V._fullmatch(text, regex), ref)


# ------------------------------------------------------ missing / strip / length


def test_isin_text_equals_isin():
    long = pd.Series(["NA", "N/", "ÑA", "", "n.v.t.", "n.v.t", "NA "] * 300, dtype="string[pyarrow]")
    short = pd.Series(["NA", None, "ÑA", "", "x"], dtype="string[pyarrow]")  # Arrow's is_in, nulls -> False
    for text in (long, short, short.iloc[1:]):
        for values in (["", "NA", "n.v.t."], ["ÑA"], ["zz"]):
            ref = text.isin(values).fillna(False).to_numpy(dtype=bool)
            np.testing.assert_array_equal(V._isin_text(text, values), ref)


@pytest.mark.parametrize(
    "edge", ["", " k", "k ", "\tk", "k\n", "\u00a0k", "k\u3000", "k\u2003", "\x1fk", "\x7fk", "ék"]
)
def test_strip_is_skipped_only_when_it_changes_nothing(edge):
    text = pd.Series(["k1", "k2", edge, "abc"] * 400, dtype="string[pyarrow]")
    stripped = text.str.strip()
    if not V._needs_strip(text):
        assert stripped.equals(text)
    if not stripped.equals(text):
        assert V._needs_strip(text)


def test_empty_and_sliced_text():
    empty = pd.Series([], dtype="string[pyarrow]")
    assert not V._needs_strip(empty) and not V._byte_length_is(empty, 0)
    assert V._isin_text(empty, [""]).tolist() == []
    # a slice not starting at the array's first cell (as the CSV reader's body below the header)
    sliced = pd.Series([" header", "k1", "k2 "] * 700, dtype="string[pyarrow]").iloc[1:]
    assert V._needs_strip(sliced)
    np.testing.assert_array_equal(V._isin_text(sliced, ["k1"]), (sliced == "k1").to_numpy(dtype=bool))
    np.testing.assert_array_equal(
        V._fullmatch(sliced, ID_PATTERN), sliced.str.fullmatch(ID_PATTERN).to_numpy(dtype=bool)
    )


def test_plain_ascii_ids_need_no_strip_and_byte_lengths_are_exact():
    text = pd.Series([f"k{i}" for i in range(2000)] + ["123456789", "12é34567"], dtype="string[pyarrow]")
    assert not V._needs_strip(text)
    assert V._byte_length_is(text, 9)  # "123456789" (and "12é34567": é is 2 bytes)
    assert not V._byte_length_is(text.iloc[:2000], 9)


# ----------------------------------------------------------- accepted-row filter


def test_filter_rows_equals_boolean_indexing():
    n = 50
    df = pd.DataFrame({
        "s": pd.Series(["a", None, np.nan] * 16 + ["b", "c"], dtype=object),
        "i": pd.array(list(range(n - 1)) + [None], dtype="Int64"),
        "f": np.linspace(0, 1, n),
        "b": pd.array([True, False, None] * 16 + [True, None], dtype="boolean"),
        "d": pd.to_datetime(["2025-01-01"] * (n - 1) + [None]),
        "_row": np.arange(2, n + 2),
    })
    keep = np.arange(n) % 7 != 3
    got = VV._filter_rows(df, keep)
    ref = df[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref)
    assert [type(v) for v in got["s"]] == [type(v) for v in ref["s"]]  # None stays None, NaN stays NaN


# ------------------------------------------------------------- whole intake


def _snapshot(res):
    return {
        "issues": res.issues_all,
        "recon": res.reconciliation,
        **{f"table:{k}": v for k, v in res.tables.items()},
        **{f"quarantine:{k}": v for k, v in res.quarantine.items()},
    }


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k], check_exact=True, obj=k)
        for c in a[k].columns:
            if a[k][c].dtype == object:  # None and NaN are different values for the analyses
                assert [type(v) for v in a[k][c]] == [type(v) for v in b[k][c]], (k, c)


def _tricky_intake(tmp_path):
    """The clean fixture with 3,000 contacts (long enough for every byte-level path) on
    repeated matches, with hand-planted problems of every kind the shortcuts touch."""
    folder = copy_clean(tmp_path)
    c = read_text_table(folder, "contacts")
    c = pd.concat([c] * 500, ignore_index=True)
    c["contact_id"] = [f"c{i:05d}" for i in range(len(c))]
    plants = {
        10: ("contact_id", "c00001"),  # unique (duplicate of an earlier id)
        11: ("contact_id", " c00011 "),  # padded: accepted after stripping
        12: ("contact_id", "c0001é"),  # pattern (non-ASCII letter)
        13: ("contact_id", "_c00013"),  # pattern (first character)
        14: ("contact_id", "NA"),  # missing value -> required
        15: ("contact_id", ""),  # required
        16: ("contact_id", "c" * 65),  # pattern (too long)
        17: ("contact_id", "c" * 65),  # pattern and unique
        18: ("match_id", "m99"),  # foreign key
        19: ("contact_date", "2025-01-19"),  # before m01's start (2025-01-20): contacts_within_match
        20: ("contact_date", "2025-01-20"),  # on the start day: fine
        21: ("contact_date", "2025-12-21"),  # after m01's end (2025-12-20)
        22: ("contact_date", ""),  # required; the period rule is not evaluated
        23: ("contact_date", "2026-10-01"),  # m02 has an open end: after the cutoff 2026-09-30
        24: ("mode", " phone "),  # padded code: accepted
        25: ("contact_id", "c00026"),  # duplicate of row 26's id, occurring earlier: row 26 is reported
    }
    for i, (f, v) in plants.items():
        c.loc[i, f] = v
    # rows 20-23 must be on the matches the dates were chosen for
    c.loc[[19, 20, 21, 22], "match_id"] = "m01"
    c.loc[23, "match_id"] = "m02"
    write_text_table(folder, "contacts", c)
    return folder


def test_whole_intake_shortcuts_equal_general_paths(tmp_path, monkeypatch):
    folder = _tricky_intake(tmp_path)
    fast = VV.validate_intake(folder)
    err = fast.errors[fast.errors["table"] == "contacts"]
    got = set(zip(err["row"].astype(int), err["field"], err["rule"], strict=True))
    # hand-derived from the plants above (source row = index + 2)
    assert got == {
        (12, "contact_id", "unique"), (14, "contact_id", "pattern"), (15, "contact_id", "pattern"),
        (16, "contact_id", "required"), (17, "contact_id", "required"), (18, "contact_id", "pattern"),
        (19, "contact_id", "pattern"), (19, "contact_id", "unique"), (28, "contact_id", "unique"),
        (20, "match_id", "foreign_key"), (21, "contact_date", "contacts_within_match"),
        (23, "contact_date", "contacts_within_match"), (24, "contact_date", "required"),
        (25, "contact_date", "contacts_within_match"), (25, "contact_date", "contacts_not_after_cutoff"),
    }
    # general paths: no Arrow buffers (regex, pandas duplicated/isin/strip) and no per-key encoding
    # (lookups, foreign keys and rules row by row)
    monkeypatch.setattr(V, "_offsets", lambda text: None)
    orig = VV._type_and_check_fields
    monkeypatch.setattr(
        VV, "_type_and_check_fields",
        lambda name, raw, res, contract, issues, cache, encoded_out=None: orig(name, raw, res, contract, issues, cache),
    )
    plain = VV.validate_intake(folder)
    _assert_same(_snapshot(fast), _snapshot(plain))


# ------------------------------------------------------------------ CSV reading

HEADER = "contact_id,match_id,opmerking\n"
DIALECTS = {
    "utf8": (HEADER + "c1,m01,café\nc2,m01,\"a,b\"\n").encode("utf-8"),
    "utf8_bom": b"\xef\xbb\xbf" + (HEADER + "c1,m01,café\n").encode("utf-8"),
    "cp1252_body": (HEADER + "c1,m01,café\n").encode("cp1252"),  # ASCII header, cp1252 body
    "cp1252_header": "contact_id,match_id,opmérking\nc1,m01,x\n".encode("cp1252"),
    "semicolon_decimal_comma": b"contact_id;minutes\nc1;12,5\nc2;3\n",
    "quoted_newline_in_header": b'contact_id,"match\nid"\nc1,m01\n',
    "quoted_newline_in_cell": b'contact_id,match_id\nc1,"two\nlines"\nc2,m01\n',
    "crlf": b"contact_id,match_id\r\nc1,m01\r\n",
    "ragged": b"contact_id,match_id\nc1\nc2,m01\n",
    "blank_line_inside": b"contact_id,match_id\nc1,m01\n\nc2,m01\n",
    "trailing_empty_rows": b"contact_id,match_id\nc1,m01\n,\n,\n",
    "invalid_utf8_last_cell": b"contact_id,match_id\nc1,m01\nc2,m\xe9\n",
    "header_only": b"contact_id,match_id\n",
    "no_newline": b"contact_id,match_id\nc1,m01",
    "single_column": b"contact_id\nc1\nc2\n",
}
BAD_DIALECTS = {
    "empty": b"",
    "blank_first_line": b"\ncontact_id,match_id\nc1,m01\n",
    "spaces": b"   \n  \n",
    "ambiguous": b"a,b;c\n1,2;3\n",
    "ambiguous_and_undecodable": b"a,b;c\n\x81,2;3\n",
    "undecodable": b"contact_id,match_id\n\x81\x8d,m01\n",
    "tab": b"a\tb\n1\t2\n",
}


def _read_general(path, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(intake, "_read_utf8_csv_arrow", lambda p: (None, False))
        return intake.read_csv_table(path, "contacts")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_csv_fast_path_equals_general_path(dialect, tmp_path, monkeypatch):
    path = tmp_path / "contacts.csv"
    path.write_bytes(DIALECTS[dialect])
    fast = intake.read_csv_table(path, "contacts")
    ref = _read_general(path, monkeypatch)
    pd.testing.assert_frame_equal(fast.data, ref.data, check_exact=True)
    assert (fast.encoding, fast.separator, fast.decimal_comma, fast.trailing_empty_rows) == (
        ref.encoding, ref.separator, ref.decimal_comma, ref.trailing_empty_rows)
    assert all(isinstance(v, str) for c in fast.columns for v in fast.data[c])


@pytest.mark.parametrize("dialect", sorted(BAD_DIALECTS))
def test_csv_fast_path_refuses_with_the_general_message(dialect, tmp_path, monkeypatch):
    path = tmp_path / "contacts.csv"
    path.write_bytes(BAD_DIALECTS[dialect])
    with pytest.raises(intake.IntakeError) as ref:
        _read_general(path, monkeypatch)
    with pytest.raises(intake.IntakeError) as fast:
        intake.read_csv_table(path, "contacts")
    assert str(fast.value) == str(ref.value)


def test_plain_utf8_csv_is_not_decoded_in_python(tmp_path, monkeypatch):
    path = tmp_path / "contacts.csv"
    path.write_bytes(DIALECTS["utf8"])
    monkeypatch.setattr(intake, "_decode", lambda raw, p: pytest.fail("the whole file was decoded"))
    t = intake.read_csv_table(path, "contacts")
    assert t.encoding == "utf-8" and t.data["opmerking"].tolist() == ["café", "a,b"]


def test_boolean_masks_equal_fillna():
    # _b/_mask skip pandas' fillna for the two kinds comparisons return; the result must equal it
    cases = [
        pd.Series([True, None, False], dtype="boolean"),
        pd.Series([True, False, True]),
        np.array([False, True]),
        pd.array([True, None], dtype="boolean"),
        pd.Series([1.0, np.nan, 3.0]) > 2,
        pd.Series(["a", None, "b"], dtype="string[pyarrow]").str.fullmatch("a"),
        pd.Series([True, None], dtype="bool[pyarrow]"),
    ]
    for x in cases:
        ref = np.asarray(x.fillna(False) if hasattr(x, "fillna") else x, dtype=bool)
        got = V._b(x)
        np.testing.assert_array_equal(got, ref)
        got[:] = False  # always a new array: the input is unchanged
        np.testing.assert_array_equal(np.asarray(x.fillna(False) if hasattr(x, "fillna") else x, dtype=bool), ref)
