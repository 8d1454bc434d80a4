"""`airlock token create`: the token on stdout, usage errors as 64."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.service import authenticate, open_store


def test_create_prints_a_token_the_service_knows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["token", "create", "--data", str(data), "--tenant", "acme", "--role", "approver"]
    result = CliRunner().invoke(app, [*args, "--max-sessions", "2"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    who = authenticate(open_store(data), token)
    assert who is not None and (who.tenant, who.role, who.max_sessions) == ("acme", "approver", 2)


def test_bad_arguments_exit_64_and_say_what_to_give(tmp_path: Path) -> None:
    base = ["token", "create", "--data", str(tmp_path / "data")]
    role = CliRunner().invoke(app, [*base, "--tenant", "acme", "--role", "root"])
    assert role.exit_code == 64 and "admin, runner, approver, viewer" in role.output
    tenant = CliRunner().invoke(app, [*base, "--tenant", "Acme Corp", "--role", "viewer"])
    assert tenant.exit_code == 64 and "tenant 'Acme Corp'" in tenant.output
    (tmp_path / "plain").write_text("")
    folder = ["token", "create", "--data", str(tmp_path / "plain"), "--tenant", "a"]
    unusable = CliRunner().invoke(app, [*folder, "--role", "viewer"])
    assert unusable.exit_code == 64 and "cannot use the data folder" in unusable.output
    assert CliRunner().invoke(app, [*base, "--tenant", "a", "--role", "viewer",
                                    "--max-sessions", "0"]).exit_code == 64  # fmt: skip
