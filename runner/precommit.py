"""``publish-validate``: the pre-commit hook, ``publish validate`` over each file it is given.

pre-commit calls ``publish-validate [ARGS...] FILE...`` with the hook's ``args`` first and
the changed spec files last. Each file is validated on its own, exactly as
``publish validate [ARGS...] FILE`` would (same checks, same ``FILE:LINE:COL`` errors);
the exit code is the worst of them, so one bad spec fails the commit.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

SPEC_SUFFIXES = (".yaml", ".yml")


def split_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """The hook's options, and the spec files pre-commit appended after them."""
    args = list(argv)
    cut = len(args)
    while (
        cut > 0
        and Path(args[cut - 1]).suffix in SPEC_SUFFIXES
        and not args[cut - 1].startswith("-")
    ):
        if cut >= 2 and args[cut - 2] in {"--var-file", "--env", "--var", "--format"}:
            break  # the value of an option, not a spec
        cut -= 1
    return args[:cut], args[cut:]


def main(argv: Sequence[str] | None = None) -> int:
    from runner.cli import run

    options, files = split_args(sys.argv[1:] if argv is None else argv)
    if not files:
        return 0
    worst = 0
    for file in files:
        worst = max(worst, run(["validate", *options, file]))
    return worst


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
