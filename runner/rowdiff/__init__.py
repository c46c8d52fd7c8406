"""Row-level diffs of a target's table against incoming results (issue 12).

:mod:`runner.rowdiff.model` (plain data, imported by plans), :mod:`runner.rowdiff.engine`
(``diff_table``), :mod:`runner.rowdiff.readers` (each vendor's read path),
:mod:`runner.rowdiff.canon` (comparable forms), :mod:`runner.rowdiff.staging`.
"""
