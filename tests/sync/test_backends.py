"""The test servers themselves: Phoenix really runs on the backend it is said to run on,
reads of its database work on both, and "wipe the database" is the real thing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phoenix_upsert import Client
from phoenix_upsert.testing import LocalPhoenix, _qmark_to_dollar

from ..conftest import BACKENDS, server_rows


def rows(n: int, tag: str = "a") -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "input": {"i": i}, "output": {"tag": tag}} for i in range(n)]


def test_phoenix_runs_on_its_backend(client: Client, phoenix: LocalPhoenix, name: str) -> None:
    client.datasets.upsert_dataset(dataset=name, examples=rows(3), manifest=False)
    assert phoenix.sql("SELECT COUNT(*) FROM datasets WHERE name = ?", name) == [(1,)]
    ((count,),) = phoenix.sql(
        "SELECT COUNT(*) FROM dataset_examples e JOIN datasets d ON d.id = e.dataset_id"
        " WHERE d.name = ? AND e.external_id IN (?, ?)",
        name,
        "r0",
        "r2",
    )
    assert count == 2
    if phoenix.backend == "postgresql":
        assert phoenix.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert not list(phoenix.working_dir.glob("phoenix.db*")), "Phoenix made a SQLite file"
        ((version,),) = phoenix.sql("SHOW server_version")
        assert version.startswith("18.")
    else:
        assert phoenix.database.is_file()
        assert phoenix.database_url == f"sqlite:///{phoenix.database}"


def test_only_its_own_database_settings_reach_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOENIX_SQL_DATABASE_URL", "postgresql://someone@elsewhere:5432/prod")
    monkeypatch.setenv("PHOENIX_POSTGRES_HOST", "elsewhere")
    monkeypatch.setenv("PHOENIX_API_KEY", "not-for-the-server")
    sqlite = LocalPhoenix(working_dir=tmp_path / "s").server_env()
    assert not {"PHOENIX_SQL_DATABASE_URL", "PHOENIX_POSTGRES_HOST", "PHOENIX_API_KEY"} & set(
        sqlite
    )
    pg = LocalPhoenix(working_dir=tmp_path / "p", backend="postgresql")
    env = pg.server_env()
    assert env["PHOENIX_SQL_DATABASE_URL"] == pg.database_url
    assert f":{pg.postgres.port}/phoenix" in pg.database_url  # type: ignore[union-attr]
    assert "PHOENIX_POSTGRES_HOST" not in env
    explicit = LocalPhoenix(working_dir=tmp_path / "e", env={"PHOENIX_API_KEY": "k"})
    assert explicit.server_env()["PHOENIX_API_KEY"] == "k"
    with pytest.raises(ValueError, match="backend"):
        LocalPhoenix(backend="mysql")  # type: ignore[arg-type]


def test_placeholders_are_question_marks_on_both_backends() -> None:
    assert _qmark_to_dollar("SELECT ? , '?''?', \"a?\", ?") == "SELECT $1 , '?''?', \"a?\", $2"
    assert _qmark_to_dollar("SELECT 1") == "SELECT 1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_wipe_empties_the_database_for_real(tmp_path: Path, backend: Any) -> None:
    with LocalPhoenix(working_dir=tmp_path / "phoenix", backend=backend) as server:
        client = Client(base_url=server.base_url)
        client.datasets.upsert_dataset(dataset="kept", examples=rows(5), manifest=False)
        client.datasets.upsert_dataset(dataset="wiped", examples=rows(4), manifest=False)
        ((first_id,),) = server.sql("SELECT id FROM datasets WHERE name = ?", "wiped")
        port = server.port
        server.wipe()
        assert server.port == port
        assert server.sql("SELECT COUNT(*) FROM datasets") == [(0,)]
        assert server.sql("SELECT COUNT(*) FROM dataset_examples") == [(0,)]
        # A new installation: ids start over, so the new dataset gets an old one's id.
        client.datasets.upsert_dataset(dataset="wiped", examples=rows(2, "b"), manifest=False)
        assert server.sql("SELECT id FROM datasets WHERE name = ?", "wiped") == [(1,)]
        assert first_id == 2
        assert {r["output"]["tag"] for r in server_rows(client, "wiped").values()} == {"b"}
