"""Redaction masks real secrets everywhere and leaves output intact for tiny ones."""

from __future__ import annotations

import logging

import pytest

from runner.spec.secrets import MASK, Secret, fingerprint, redact


def test_registered_values_and_their_encodings_are_masked() -> None:
    value = "pw#with/odd%chars"
    Secret(value, ["DB_PASSWORD"])
    text = f"a {value} b pw%23with%2Fodd%25chars c"
    assert redact(text) == f"a {MASK} b {MASK} c"


def test_a_tiny_secret_is_not_masked_by_substring_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="runner.secrets"):
        Secret("1", ["PIN"])
    assert redact('"format_version": "1"') == '"format_version": "1"'
    assert "shorter than 4 characters" in caplog.text


def test_fingerprints_are_stable_and_do_not_show_the_value() -> None:
    a = Secret("correct horse", ["A"]).fingerprint
    assert a == Secret("correct horse", ["B"]).fingerprint == fingerprint("correct horse")
    assert a != Secret("correct horsf", ["A"]).fingerprint
    assert a.startswith("sha256:") and "horse" not in a
