"""The early start of ``evaluation validate`` (CSV files parsed and dictionary-encoded in a
background thread while pandas loads) gives exactly the result of reading afterwards.

Reference: the same intake validated without the prefetch (the general path, pinned by
the other validation tests), compared table by table and issue by issue.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from _intake_fixtures import copy_clean, plant, read_text_table, write_text_table

import evaluation.validation.rules as rules
from evaluation.intake.arrow_csv import CsvPrefetch
from evaluation.intake.read import read_intake
from evaluation.validation.validate import validate_intake


def _big_intake(tmp_path, n=60_000):
    """The clean fixture with contacts repeated to ``n`` rows (above the two-thread threshold),
    with planted errors: a duplicate id, a bad date, a blank required cell, spaces to strip."""
    folder = copy_clean(tmp_path)
    c = read_text_table(folder, "contacts")
    big = c.loc[np.resize(c.index.to_numpy(), n)].reset_index(drop=True)
    big["contact_id"] = [f"k{i}" for i in range(n)]
    big.loc[n - 1, "contact_id"] = "k7"
    big.loc[100, "contact_date"] = "2024-02-30"
    big.loc[200, "mode"] = ""
    big.loc[300, "minutes"] = " 45 "
    write_text_table(folder, "contacts", big)
    plant(folder, "participants", 2, "sex", "x")
    return folder


def _assert_same(a, b):
    pd.testing.assert_frame_equal(a.issues_all, b.issues_all, check_exact=True)
    pd.testing.assert_frame_equal(a.reconciliation, b.reconciliation, check_exact=True)
    assert a.tables.keys() == b.tables.keys() and a.quarantine.keys() == b.quarantine.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)
    for name in a.quarantine:
        pd.testing.assert_frame_equal(a.quarantine[name], b.quarantine[name], check_exact=True)


def test_prefetched_reading_and_validation_equal_the_plain_path(tmp_path, monkeypatch):
    folder = _big_intake(tmp_path)
    monkeypatch.setattr(rules, "_PARALLEL_ROWS", 10**9)  # reference: one thread, no prefetch
    plain = validate_intake(folder, language="en")
    monkeypatch.undo()
    raw = read_intake(folder, unreadable="record", prefetch=CsvPrefetch(folder, min_bytes=0))
    assert raw.tables["contacts"].dictionaries  # the prefetch did encode columns
    assert "contact_id" not in raw.tables["contacts"].dictionaries  # identifiers are not encoded
    early = validate_intake(raw, language="en")
    _assert_same(plain, early)
    assert not plain.ok and ((plain.issues_all["table"] == "contacts") & (plain.issues_all["rule"] == "unique")).sum() == 1


def test_prefetch_result_is_not_used_for_a_file_changed_since(tmp_path):
    folder = _big_intake(tmp_path, n=2_000)
    prefetch = CsvPrefetch(folder, min_bytes=0)
    prefetch.take(folder / "volunteers.csv")  # (waits for the thread)
    path = folder / "contacts.csv"
    plant(folder, "contacts", 5, "minutes", "abc")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert prefetch.take(path) is None
    raw = read_intake(folder, unreadable="record", prefetch=prefetch)
    assert raw.tables["contacts"].data["minutes"].iloc[3] == "abc"


def test_prefetch_parses_only_contract_tables(tmp_path):
    folder = _big_intake(tmp_path, n=2_000)
    (folder / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    prefetch = CsvPrefetch(folder, min_bytes=0, tables=["contacts"])
    assert prefetch.take(folder / "notes.csv") is None
    assert prefetch.take(folder / "participants.csv") is None
    got, _ = prefetch.take(folder / "contacts.csv")
    assert got[0] is not None and got[0][0].num_rows == 2_001  # header record + 2,000 rows
