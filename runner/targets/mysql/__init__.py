"""MySQL / MariaDB: :class:`MysqlTarget` (:mod:`.target`), split by concern into
connections (:mod:`.connect`), types (:mod:`.types`), the row paths (:mod:`.load`) and
the rules for putting staged rows in place (:mod:`.swap`)."""

from __future__ import annotations

from runner.targets.mysql.connect import is_loopback, local_infile_allowed
from runner.targets.mysql.target import MysqlTarget
from runner.targets.mysql.types import DIALECT, quote

__all__ = ["DIALECT", "MysqlTarget", "is_loopback", "local_infile_allowed", "quote"]
