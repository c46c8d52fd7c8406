"""Checks that gate publishing (issue 12): ``checks:`` on jobs and targets.

:mod:`runner.checks.model` (``CheckResult``, plain data) and :mod:`runner.checks.evaluate`.
"""
