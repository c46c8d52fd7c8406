"""Open the state backend a spec names, and make the first state of a spec."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from runner.errors import StateError
from runner.spec.model import Spec
from runner.state.backend import StateBackend
from runner.state.model import State


def state_dir(spec: Spec) -> Path:
    """The local folder of a spec's state and job results (``state.path`` under its folder)."""
    base = spec.base_dir.resolve()
    folder = (base / spec.state.path).resolve()
    if folder != base and base not in folder.parents:
        raise StateError(
            f"{spec.position_of('$.state.path')}: $.state.path: {spec.state.path!r} leads "
            f"outside the spec's folder {base}; use a path inside it, such as '.publish/'"
        )
    return folder


def spec_ref(spec: Spec) -> str:
    """The spec file as the user would type it: relative to the working folder when inside."""
    try:
        return os.path.relpath(spec.file)
    except ValueError:
        return str(spec.file)


def open_backend(spec: Spec) -> StateBackend:
    """The state backend configured by ``spec.state``."""
    if spec.state.backend == "local":
        from runner.state.local import LocalStateBackend

        return LocalStateBackend(
            state_dir(spec), spec.name, spec.environment, spec_ref=spec_ref(spec)
        )
    if spec.state.backend == "postgres":
        if spec.state.url is None:
            raise StateError(
                f"{spec.position_of('$.state')}: $.state.url: the postgres state backend needs "
                "a url, such as \"{{ secret('STATE_URL') }}\""
            )
        from runner.state.postgres import PostgresStateBackend

        return PostgresStateBackend(
            spec.state.url, spec.name, spec.environment, spec_ref=spec_ref(spec)
        )
    raise StateError(
        f"{spec.position_of('$.state.backend')}: $.state.backend: unknown state backend "
        f"{spec.state.backend!r}; use local or postgres"
    )


def new_state(spec: Spec) -> State:
    """The state of a spec that has none yet: a new lineage, serial 0."""
    return State(lineage=str(uuid.uuid4()), serial=0, spec=spec.name, environment=spec.environment)
