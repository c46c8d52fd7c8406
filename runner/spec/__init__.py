"""The spec language: load (YAML with positions), render (Jinja), validate, model.

Public entry points (implemented in :mod:`runner.spec.api`):

- ``resolve_spec_path(path) -> Path``: a spec file, or the single spec in a folder.
- ``load_spec(path, *, environment=None, cli_vars={}, var_files=()) -> Spec``:
  load, render, validate and build the model; raises SpecError with every issue.
- ``render_for_display(path, *, environment=None, cli_vars={}, var_files=()) -> str``:
  the rendered spec as YAML, secrets masked (``publish render``).
"""
