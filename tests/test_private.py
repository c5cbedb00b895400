"""The one private writer (evaluation.intake.private): owner-only modes, atomic, no symlinks."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from evaluation.intake.private import SymlinkError, private_dir, write_private


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_write_private_owner_only_even_with_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        df = pd.DataFrame({"participant_id": ["P-1", "P-2"], "days": [3, 4]})
        p = write_private(tmp_path / "analysis" / "nested" / "adtte.csv", df)
        q = write_private(tmp_path / "analysis" / "adtte.parquet", df)
        j = write_private(tmp_path / "analysis" / "meta.json", {"rows": 2})
        t = write_private(tmp_path / "analysis" / "notes.txt", "text")
        b = write_private(tmp_path / "analysis" / "raw.bin", b"\x00\x01")
    finally:
        os.umask(old)
    for f in (p, q, j, t, b):
        assert _mode(f) == 0o600, f
    for d in (tmp_path / "analysis", tmp_path / "analysis" / "nested"):
        assert _mode(d) == 0o700, d
    pd.testing.assert_frame_equal(pd.read_csv(p), df)
    pd.testing.assert_frame_equal(pd.read_parquet(q), df)
    assert json.loads(j.read_text()) == {"rows": 2}
    assert t.read_text() == "text" and b.read_bytes() == b"\x00\x01"
    assert sorted(x.name for x in (tmp_path / "analysis").iterdir()) == [
        "adtte.parquet", "meta.json", "nested", "notes.txt", "raw.bin"]  # no temporary files left


def test_write_private_replaces_a_world_readable_file_and_leaves_the_parent_alone(tmp_path):
    shared = tmp_path / "project"
    shared.mkdir()
    os.chmod(shared, 0o755)
    p = shared / "quarantine.csv"
    p.write_text("old")
    os.chmod(p, 0o644)
    write_private(p, "new")
    assert p.read_text() == "new" and _mode(p) == 0o600
    assert _mode(shared) == 0o755  # not ours to change


def test_private_dir_tightens_existing_folder_and_refuses_files(tmp_path):
    d = tmp_path / "quarantine"
    d.mkdir()
    os.chmod(d, 0o755)
    with pytest.warns(UserWarning, match="accessible to group/others"):
        private_dir(d)
    assert _mode(d) == 0o700
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError):
        private_dir(f)
    with pytest.raises(TypeError, match="cannot write"):
        write_private(tmp_path / "x.bin", 3.14)
    assert not (tmp_path / "x.bin").exists()


def test_symlinks_are_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o755)
    victim = elsewhere / "victim.csv"
    victim.write_text("keep")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    with pytest.raises(SymlinkError, match="symbolic link"):
        write_private(link, "row-level data")
    assert victim.read_text() == "keep" and link.is_symlink()
    dlink = tmp_path / "private"
    dlink.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SymlinkError, match="symbolic link"):
        private_dir(dlink)
    assert _mode(elsewhere) == 0o755


def test_a_callable_streams_into_the_private_file(tmp_path):
    import pickle

    p = write_private(tmp_path / "result.pickle", lambda fh: pickle.dump({"a": [1, 2]}, fh))
    assert _mode(p) == 0o600
    with open(p, "rb") as fh:
        assert pickle.load(fh) == {"a": [1, 2]}
