"""load_spec builds the frozen model: types, tuples, secrets, hashes, positions."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from runner.errors import SpecError
from runner.spec.api import load_rendered, load_spec, resolve_spec_path
from runner.spec.secrets import Secret

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "publish_specs" / "quickstart"

SPEC = """\
version: 1
name: model
vars: {port: 5433, schema: analytics}
connections:
  pg:
    vendor: postgres
    host: 127.0.0.1
    port: "{{ vars.port }}"
    database: test
    username: postgres
    password: "{{ secret('MODEL_TEST_PASSWORD') }}"
    params:
      sslmode: require
      connect_timeout: 5
      keepalives: true
      sslpassword: "{{ secret('MODEL_TEST_PASSWORD') }}"
jobs:
  j:
    inputs: {orders: orders.csv}
    outputs: [csv, avro]
targets:
  t:
    job: j
    connection: pg
    path: ["{{ vars.schema }}"]
    table: t
    action: upsert
    key: [id, day]
    inputFormat: csv
    protect: "{{ 'true' }}"
"""


@pytest.fixture
def spec_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODEL_TEST_PASSWORD", "model-pa$$word")
    (tmp_path / "orders.csv").write_text("id,day\n1,2\n")
    path = tmp_path / "publish.yaml"
    path.write_text(SPEC)
    return path


def test_model_types(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    pg = spec.connections["pg"]
    assert pg.port == 5433 and isinstance(pg.port, int)
    assert isinstance(pg.password, Secret) and pg.password.reveal() == "model-pa$$word"
    assert pg.params["sslmode"] == "require"
    assert pg.params["connect_timeout"] == "5"
    assert pg.params["keepalives"] == "true"
    assert isinstance(pg.params["sslpassword"], Secret)
    job = spec.jobs["j"]
    assert job.outputs == ("csv", "avro")
    assert job.inputs == {"orders": "orders.csv"}
    target = spec.targets["t"]
    assert target.path == ("analytics",)
    assert target.key == ("id", "day")
    assert target.protect is True
    assert spec.environment == "default"
    assert spec.file == spec_file.resolve()
    assert spec.platform.type == "local" and spec.state.backend == "local"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


def test_hashes(spec_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(spec_file)
    assert spec.sha256 == hashlib.sha256(spec_file.read_bytes()).hexdigest()
    again = load_spec(spec_file)
    assert again.rendered_sha256 == spec.rendered_sha256
    other_var = load_spec(spec_file, cli_vars={"schema": "main"})
    assert other_var.sha256 == spec.sha256
    assert other_var.rendered_sha256 != spec.rendered_sha256
    monkeypatch.setenv("MODEL_TEST_PASSWORD", "another-password")
    assert load_spec(spec_file).rendered_sha256 != spec.rendered_sha256


def test_rendered_data_keeps_secret_objects(spec_file: Path) -> None:
    _, data = load_rendered(spec_file)
    assert isinstance(data["connections"]["pg"]["password"], Secret)
    assert data["connections"]["pg"]["port"] == 5433


def test_positions_point_at_the_source(spec_file: Path) -> None:
    spec = load_spec(spec_file)
    assert spec.positions["$.targets.t.table"].line == 26
    assert spec.position_of("$.targets.t.table") == f"{spec_file}:26:12"


def test_cli_var_is_coerced_where_the_schema_wants_an_integer(spec_file: Path) -> None:
    assert load_spec(spec_file, cli_vars={"port": "6543"}).connections["pg"].port == 6543
    with pytest.raises(SpecError) as info:
        load_spec(spec_file, cli_vars={"port": "65x"})
    assert [i.message for i in info.value.issues] == ["expected an integer, got the string '65x'"]


def test_quickstart_and_its_prod_environment() -> None:
    spec = load_spec(QUICKSTART)
    assert spec.name == "quickstart"
    assert {t.action for t in spec.targets.values()} == {
        "truncateAndLoad",
        "dropAndLoad",
        "upsert",
    }
    assert spec.targets["orders_merged"].key == ("id",)
    assert not any(t.protect for t in spec.targets.values())
    assert (QUICKSTART / spec.jobs["orders_clean"].inputs["orders"]).is_file()
    prod = load_spec(QUICKSTART, environment="prod")
    assert prod.environment == "prod"
    assert all(t.protect for t in prod.targets.values())
    assert ">= 10" in (prod.jobs["orders_clean"].recipe or "")


def test_trifacta_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIFACTA_TOKEN", "tok-{{x}}#@/%")
    monkeypatch.delenv("TRIFACTA_URL", raising=False)
    spec = load_spec(REPO / "publish_specs" / "trifacta-redshift.yaml")
    assert spec.platform.type == "trifacta"
    assert spec.platform.url == "https://us1.alteryxcloud.com"
    assert spec.platform.token is not None and spec.platform.token.reveal() == "tok-{{x}}#@/%"
    assert spec.connections["redshift"].adopted and spec.connections["redshift"].id == 2
    assert spec.jobs["job2"].wrangled_dataset == 28629
    target = spec.targets["test_table2"]
    assert (target.path, target.table, target.action, target.input_format) == (
        ("public",),
        "test_table2",
        "create",
        "avro",
    )


def test_resolve_spec_path(tmp_path: Path) -> None:
    assert resolve_spec_path(QUICKSTART) == QUICKSTART / "publish.yaml"
    (tmp_path / "one.yml").write_text("x: 1\n")
    assert resolve_spec_path(tmp_path) == tmp_path / "one.yml"
    (tmp_path / "two.yaml").write_text("x: 1\n")
    with pytest.raises(SpecError, match=r"several specs in this folder \(one.yml, two.yaml\)"):
        resolve_spec_path(tmp_path)
    (tmp_path / "publish.yaml").write_text("x: 1\n")
    assert resolve_spec_path(tmp_path) == tmp_path / "publish.yaml"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpecError, match="no spec in this folder"):
        resolve_spec_path(empty)
    with pytest.raises(SpecError, match="no such file or folder"):
        resolve_spec_path(tmp_path / "missing.yaml")
