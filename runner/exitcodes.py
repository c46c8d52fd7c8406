"""Exit codes of the `publish` command line, in one place.

0    success (``plan --detailed-exitcode``: no changes)
1    a user-facing error (a PublishError): the message says what to fix or to rerun
2    ``plan --detailed-exitcode`` found changes or drift
3    a bug in publish: the traceback is in a crash log, one line on screen
130  interrupted (Ctrl-C); what finished is recorded in state
"""

from __future__ import annotations

OK = 0
ERROR = 1
CHANGES = 2
BUG = 3
INTERRUPTED = 130
