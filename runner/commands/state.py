"""`publish state list|show|rm` and `publish force-unlock`."""

from __future__ import annotations

import dataclasses
import json
import sys

from runner.commands.args import SpecArgs
from runner.commands.context import Echo, open_context, use_color
from runner.errors import PublishError


def state_command(
    operation: str,
    spec: SpecArgs,
    address: str | None,
    *,
    lock_timeout: float,
    echo: Echo,
) -> None:
    ctx = open_context(spec)
    if operation == "rm":
        if not address:
            raise PublishError(
                "publish state rm needs an ADDRESS (target.NAME, job.NAME or connection.NAME)"
            )
        with ctx.backend.lock("state rm", timeout=lock_timeout):
            state = ctx.backend.read()
            if state is None or address not in state.addresses():
                raise PublishError(f"{address}: not in state ({ctx.backend.describe()})")
            ctx.backend.write(state.without(address).without_failure(address))
        echo(f"Removed {address} from state. Its table and rows were not touched.")
        return
    state = ctx.backend.read()
    if state is None:
        echo(
            f"No state yet for {ctx.spec.name} ({ctx.spec.environment}) in {ctx.backend.describe()}."
        )
        return
    if operation == "list":
        prefix = address or ""
        if sys.stdout.isatty():  # people get a table; scripts get one address a line
            from runner.tables import print_table, state_table

            title = f"{ctx.spec.name} ({ctx.spec.environment}) in {ctx.backend.describe()}"
            print_table(state_table(state, prefix, title=title), color=use_color())
            return
        for addr in state.addresses():
            if addr.startswith(prefix):
                echo(addr)
        return
    if address is None:
        echo(json.dumps(state.to_json(), indent=2))
        return
    kind, _, name = address.partition(".")
    table = {"connection": state.connections, "job": state.jobs, "target": state.publications}.get(
        kind
    )
    record = table.get(name) if table is not None else None
    if record is None:
        raise PublishError(f"{address}: not in state ({ctx.backend.describe()})")
    data = dataclasses.asdict(record)  # type: ignore[call-overload]
    if address in state.failures:
        data["last_failure"] = dict(state.failures[address])
    echo(json.dumps(data, indent=2))


def force_unlock_command(spec: SpecArgs, lock_id: str, *, echo: Echo) -> None:
    ctx = open_context(spec)
    ctx.backend.force_unlock(lock_id)
    echo(f"Lock {lock_id} removed from {ctx.backend.describe()}.")
