"""Secret values: a type that never prints itself, and redaction of every output.

A value that came from ``secret('NAME')`` (or a string built around one) is a
:class:`Secret`. Its ``str()`` and ``repr()`` are a mask; only :meth:`Secret.reveal`
gives the value, and only code that hands it to a driver or an HTTP header calls it.
Every revealed value is registered, and :func:`redact` masks all registered values in
any text (log records, error messages, tracebacks, plan output) as a last line of
defence. Secrets are compared by :attr:`Secret.fingerprint`, so a state or a plan can
tell that a secret changed without holding it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import urllib.parse
from collections.abc import Iterable

MASK = "***"

_lock = threading.Lock()
_registered: set[str] = set()
_pattern_cache: list[str] | None = None


def _variants(value: str) -> set[str]:
    """The forms a secret may take in output: as is, URL-encoded, and JSON-escaped."""
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    forms.add(value.replace("\\", "\\\\").replace('"', '\\"'))
    return {f for f in forms if f}


#: shorter values are not masked by substring: masking "1" or "db" would mangle every
#: output (JSON included); they are still never printed by publish itself
MIN_MASKED_LENGTH = 4
log = logging.getLogger("runner.secrets")


def register(value: str) -> None:
    """Remember ``value`` so that :func:`redact` masks it everywhere (short ones are skipped)."""
    global _pattern_cache
    if len(value) < MIN_MASKED_LENGTH:
        if value:
            log.warning(
                "a secret is shorter than %d characters: it cannot be masked in output "
                "without mangling it; use a longer secret",
                MIN_MASKED_LENGTH,
            )
        return
    with _lock:
        _registered.update(_variants(value))
        _pattern_cache = None


def redact(text: str) -> str:
    """Replace every registered secret value in ``text`` with the mask."""
    global _pattern_cache
    if not _registered or not text:
        return text
    with _lock:
        if _pattern_cache is None:
            # longest first, so a secret that contains another is masked whole
            _pattern_cache = sorted(_registered, key=len, reverse=True)
        patterns = _pattern_cache
    for p in patterns:
        if p in text:
            text = text.replace(p, MASK)
    return text


#: PBKDF2 rounds: fingerprints travel in plan files and PR comments, so guessing a
#: password from one must be slow (about 40 ms per guess here, computed once per secret)
FINGERPRINT_ROUNDS = 100_000


def fingerprint(value: str, *, salt: str = "") -> str:
    """A stable, one-way fingerprint of a secret value (PBKDF2-SHA256, 32 hex chars).

    The same value gives the same fingerprint whatever its name, so renaming a secret's
    variable is no change; the cost of each guess is what protects weak passwords.
    """
    digest = hashlib.pbkdf2_hmac(
        "sha256", value.encode(), f"publish:{salt}".encode(), FINGERPRINT_ROUNDS
    )
    return "sha256:" + digest.hex()[:32]


class Secret:
    """A secret string. Prints as ``***``; compare and record it by fingerprint."""

    __slots__ = ("_fingerprint", "_value", "names")

    def __init__(self, value: str, names: Iterable[str] = ()) -> None:
        self._value = value
        self.names: tuple[str, ...] = tuple(sorted(set(names)))
        self._fingerprint: str | None = None
        register(value)

    def reveal(self) -> str:
        """The value itself: hand it to a driver or a header, never to output."""
        return self._value

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self._value)
        return self._fingerprint

    def reference(self) -> dict[str, object]:
        """What plans and state hold instead of the value."""
        return {"secret": list(self.names), "fingerprint": self.fingerprint}

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        names = ",".join(self.names)
        return f"Secret({names or MASK})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self.fingerprint))

    def __reduce__(self) -> str | tuple[object, ...]:  # never pickle the value
        raise TypeError("a Secret cannot be pickled")


def reveal(value: str | Secret | None) -> str | None:
    """The plain value of a string or a Secret (for drivers and HTTP headers)."""
    if isinstance(value, Secret):
        return value.reveal()
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
