"""Issue 10, defects 6 and 7: a corrupt state and links under ``.publish/`` are refused.

A pull request can commit anything under the state folder: a state nested 100,000 deep,
a lock file or a results folder that is a symbolic link to a file or folder elsewhere.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runner.errors import StateError
from runner.platforms.local import LocalPlatform
from runner.spec.model import Connection, Job, Spec
from runner.state.files import remove_tree
from runner.state.local import LocalStateBackend
from runner.state.model import State


def backend(folder: Path) -> LocalStateBackend:
    return LocalStateBackend(folder, "sales", "default", spec_ref="sales.yaml")


def state() -> State:
    return State(lineage="l-1", serial=0, spec="sales", environment="default")


# -- 6. deeply nested state -------------------------------------------------------------


@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_state_is_corrupt_with_the_restore_command(
    tmp_path: Path, depth: int
) -> None:
    b = backend(tmp_path)
    b.write(b.write(state()))  # serial 2 in the file, a good backup of serial 1
    b.path.write_text('{"lineage": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(StateError) as info:
        b.read()
    message = str(info.value)
    assert message.startswith(f"state {b.path} is corrupt (it is nested more than 32 levels")
    assert f"to restore it run: cp {b.backup_path} {b.path}" in message


def test_deeply_nested_lock_file_names_no_holder(tmp_path: Path) -> None:
    b = backend(tmp_path)
    b.lock_path.write_text("[" * 100_000 + "]" * 100_000)
    assert b._holder() is None


# -- 7. never follow links under .publish/ ------------------------------------------------


def test_lock_file_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    folder = tmp_path / "spec" / ".publish"
    folder.mkdir(parents=True)
    b = backend(folder)
    b.lock_path.symlink_to(victim)
    with (
        pytest.raises(StateError, match="is a symbolic link; publish never follows links"),
        b.lock("apply"),
    ):
        pass
    assert victim.read_text() == "precious\n"


def test_state_file_symlink_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    folder = tmp_path / "spec" / ".publish"
    folder.mkdir(parents=True)
    b = backend(tmp_path / "elsewhere")
    b.write(state())
    b.path.rename(outside)
    mine = backend(folder)
    mine.path.symlink_to(outside)
    with pytest.raises(StateError, match="is a symbolic link"):
        mine.read()


def _platform(base: Path) -> LocalPlatform:
    (base / "data").mkdir(parents=True, exist_ok=True)
    (base / "data" / "orders.csv").write_text("id\n1\n")
    spec = Spec(
        name="t",
        file=base / "spec.yaml",
        environment="default",
        connections={"wh": Connection("wh", vendor="sqlite", database="wh.db")},
    )
    return LocalPlatform(spec, base / ".publish")


def _outside_folder(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "run-old").mkdir(parents=True)
    (outside / "run-old" / "keep.txt").write_text("not publish's\n")
    return outside


def test_results_cleanup_does_not_follow_a_job_folder_link(tmp_path: Path) -> None:
    outside = _outside_folder(tmp_path)
    platform = _platform(tmp_path / "spec")
    results = platform.state_dir / "results"
    results.mkdir(parents=True)
    (results / "orders").symlink_to(outside)
    platform.prune_results({"orders": "run-new"})
    assert (outside / "run-old" / "keep.txt").read_text() == "not publish's\n"


def test_results_cleanup_refuses_a_results_folder_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "orders" / "run-old").mkdir(parents=True)
    (outside / "orders" / "run-old" / "keep.txt").write_text("not publish's\n")
    platform = _platform(tmp_path / "spec")
    platform.state_dir.mkdir(parents=True)
    (platform.state_dir / "results").symlink_to(outside)
    with pytest.raises(StateError, match="results is a symbolic link"):
        platform.prune_results({"orders": "run-new"})
    assert (outside / "orders" / "run-old" / "keep.txt").exists()


def test_job_run_does_not_write_through_a_results_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    platform = _platform(tmp_path / "spec")
    platform.state_dir.mkdir(parents=True)
    (platform.state_dir / "results").symlink_to(outside)
    job = Job("orders", inputs={"orders": "data/orders.csv"})
    with pytest.raises(StateError, match="results is a symbolic link"):
        platform.run_job(job, "run-1", "fp", threading.Event())
    assert list(outside.iterdir()) == []


def test_run_folder_link_is_removed_not_followed(tmp_path: Path) -> None:
    outside = _outside_folder(tmp_path)
    platform = _platform(tmp_path / "spec")
    job_dir = platform.state_dir / "results" / "orders"
    job_dir.mkdir(parents=True)
    (job_dir / "run-old").symlink_to(outside / "run-old")
    platform.prune_results({"orders": "run-new"})
    assert not (job_dir / "run-old").exists()
    assert (outside / "run-old" / "keep.txt").exists()


def test_remove_tree_never_leaves_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(StateError, match="is outside"):
        remove_tree(root, root / ".." / "other")
    with pytest.raises(StateError, match="refusing to delete"):
        remove_tree(root, root)
    assert other.exists()


def test_recorded_results_outside_the_state_folder_are_not_used(tmp_path: Path) -> None:
    from runner.state.model import JobRunRecord

    (tmp_path / "elsewhere.avro").write_text("x")
    platform = _platform(tmp_path / "spec")
    record = JobRunRecord(
        "orders", "r1", "fp", "2026-01-01T00:00:00Z",
        results={"avro": {"files": ["../../elsewhere.avro"]}},
    )  # fmt: skip
    assert platform.has_results(record, "avro") is False
