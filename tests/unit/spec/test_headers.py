"""validate's read of an input's start (issue 11.6)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.spec.headers import SAMPLE_BYTES, HeaderError, read_header


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_swapped_in_after_the_checks_is_refused_not_waited_on(tmp_path: Path) -> None:
    """check_input refuses a FIFO; one put in its place a moment later must not block."""
    fifo = tmp_path / "orders.csv"
    os.mkfifo(fifo)
    probe = (
        "import sys; from pathlib import Path; from runner.spec.headers import read_header\n"
        "try:\n    read_header(Path(sys.argv[1]), 'orders.csv')\n"
        "except Exception as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(fifo)], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "orders.csv: not a regular file"


def test_a_sample_cut_inside_a_character_or_a_record_is_not_an_error(tmp_path: Path) -> None:
    """validate reads 64 KB: a character or a JSON record cut there is not the file's fault."""
    csv = tmp_path / "orders.csv"
    head = "id,name\n1,"
    filler = "a" * (SAMPLE_BYTES - len(head) - 1)  # the 2-byte é starts at the last byte read
    csv.write_text(head + filler + "\u00e9\n2,b\n", encoding="utf-8")
    assert read_header(csv, "orders.csv").columns == ("id", "name")
    ndjson = tmp_path / "orders.ndjson"
    ndjson.write_text('{"id": 1, "name": "x"}\n' * 5_000, encoding="utf-8")  # cut mid-record
    assert read_header(ndjson, "orders.ndjson").columns == ("id", "name")
    csv.write_bytes(b"id,\xe9\n")
    with pytest.raises(HeaderError, match=r"orders.csv:1:4: the byte 0xe9 is not UTF-8"):
        read_header(csv, "orders.csv")


def test_json_nested_too_deeply_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text("[" + '{"a": ' * 50_000)
    with pytest.raises(HeaderError, match=r"orders.json:1:2: this JSON value is nested too deeply"):
        read_header(path, "orders.json")
