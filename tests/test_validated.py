"""The run's validation cache (evaluation.validation.cache): same result as validating afresh, stale,
foreign or unsigned caches ignored.

Reference: the uncached path, ``evaluation.validation.validate.validate_intake``, on the
same folders. No tolerances: everything is compared exactly (values, dtypes,
index).
"""

from __future__ import annotations

import os
import stat
import warnings

import pandas as pd
import pytest
from _intake_fixtures import plant

from evaluation.analyses import quality
from evaluation.pipeline import staging
from evaluation.validation.cache import (
    cache_environment,
    load_validated,
    new_cache_key,
    write_validated_cache,
)
from evaluation.validation.validate import validate_intake

synth = pytest.importorskip("evaluation.synth.generate")


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """A small synthetic intake with two planted errors, so some rows are quarantined."""
    folder = synth.generate_intake(tmp_path_factory.mktemp("synth") / "intake", seed=20260930, scale=0.1)
    plant(folder, "contacts", 5, "mode", "brief")  # not a code of the contacts 'mode' field
    plant(folder, "contacts", 9, "minutes", "-3")
    return folder


@pytest.fixture(scope="module")
def validation(delivered):
    return validate_intake(delivered, language="en")


@pytest.fixture()
def staged(validation, delivered, tmp_path, monkeypatch):
    """The run's staging: accepted rows as CSV, then the signed cache beside it, handed to this process
    through the environment (what run_quarter does for its notebook workers)."""
    folder = staging.stage_accepted_intake(validation, delivered, tmp_path / "private" / "intake")
    key = new_cache_key()
    write_validated_cache(validation, folder, tmp_path / "private" / "validated", key)
    for k, v in cache_environment(tmp_path / "private" / "validated", key).items():
        monkeypatch.setenv(k, v)
    return folder


CACHE = "validated"  # the cache folder beside the staged intake, in the run's private folder


def test_planted_errors_are_quarantined(validation):
    # guards the premise of the other tests: the delivery has quarantined rows and issues
    assert len(validation.quarantine["contacts"]) == 2
    assert not validation.issues.empty


def test_cached_load_equals_fresh_validation(staged, validation):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a usable cache raises no warning
        cached = load_validated(staged, language="nl")
    fresh_staged = validate_intake(staged, language="nl")
    # tables: what the notebooks computed before (a validation of the staged folder), exactly, _row included
    assert set(cached.tables) == set(fresh_staged.tables)
    for name, df in fresh_staged.tables.items():
        pd.testing.assert_frame_equal(cached.tables[name], df, check_dtype=True, check_index_type=True, obj=name)
    assert cached.programmes == fresh_staged.programmes
    assert cached.cutoff_date == fresh_staged.cutoff_date
    assert cached.language == "nl" and cached.intake_path == fresh_staged.intake_path
    # issues, quarantine and reconciliation: the real ones, of the delivered intake
    pd.testing.assert_frame_equal(cached.reconciliation, validation.reconciliation)
    pd.testing.assert_frame_equal(cached.issues, validate_intake(validation.intake_path, language="nl").issues)
    assert cached.issues["message"].tolist() != validation.issues["message"].tolist()  # nl, not en
    for name, q in validation.quarantine.items():
        pd.testing.assert_frame_equal(cached.quarantine[name], q, obj=name)
    # the staged copy alone would say nothing was quarantined
    assert int(fresh_staged.reconciliation["rows_quarantined"].sum()) == 0
    assert int(cached.reconciliation["rows_quarantined"].sum()) == 2
    # the data-quality tables from the cache are those of the delivered intake
    pd.testing.assert_frame_equal(quality.issues_by_rule(cached, "en"), quality.issues_by_rule(validation, "en"))
    pd.testing.assert_frame_equal(quality.reconciliation_table(cached, by_programme=True),
                                  quality.reconciliation_table(validation, by_programme=True))


def test_stale_cache_is_ignored(staged):
    p = staged / "contacts.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df.iloc[:-1].to_csv(p, index=False)  # the staged input changed: one contact fewer
    with pytest.warns(UserWarning, match="changed since the cache was written"):
        res = load_validated(staged)
    assert len(res.tables["contacts"]) == len(df) - 1
    assert int(res.reconciliation["rows_quarantined"].sum()) == 0  # a fresh validation of the staged folder


def test_same_size_rewrite_is_stale(staged):
    # same content length, new modification time: still not trusted
    p = staged / "programmes.yaml"
    st = p.stat()
    p.write_bytes(p.read_bytes())
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.warns(UserWarning, match="changed"):
        load_validated(staged)


def test_cache_files_are_owner_only(staged):
    d = staged.parent / CACHE
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = list(d.iterdir())
    assert {f.name for f in files} == {"result.pickle", "cache.json"}
    assert not any(p.name.startswith(".") for p in staged.iterdir())  # nothing inside the intake folder
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_cache_readable_by_others_is_not_used(staged):
    os.chmod(staged.parent / CACHE / "result.pickle", 0o644)
    with pytest.warns(UserWarning, match="readable by others"):
        res = load_validated(staged)
    assert int(res.reconciliation["rows_quarantined"].sum()) == 0  # validated afresh


def test_cache_without_the_runs_key_is_not_used(staged, monkeypatch):
    # the same cache with another key (another run, or a cache copied from elsewhere): signature fails
    monkeypatch.setenv("EVALUATION_VALIDATION_KEY", new_cache_key().hex())
    with pytest.warns(UserWarning, match="does not carry this run's signature"):
        res = load_validated(staged)
    assert int(res.reconciliation["rows_quarantined"].sum()) == 0  # validated afresh


def test_cache_with_one_byte_changed_is_not_unpickled(staged):
    p = staged.parent / CACHE / "result.pickle"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="does not carry this run's signature"):
        res = load_validated(staged)
    assert int(res.reconciliation["rows_quarantined"].sum()) == 0


def test_opened_by_hand_never_reads_the_cache(staged, monkeypatch):
    # no cache handed over through the environment: a fresh validation, no warning
    monkeypatch.delenv("EVALUATION_VALIDATION_CACHE")
    monkeypatch.delenv("EVALUATION_VALIDATION_KEY")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = load_validated(staged)
    assert int(res.reconciliation["rows_quarantined"].sum()) == 0


def test_without_cache_is_validate_intake(delivered, validation):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = load_validated(delivered, language="en")
    pd.testing.assert_frame_equal(res.issues, validation.issues)
    pd.testing.assert_frame_equal(res.tables["contacts"], validation.tables["contacts"])
