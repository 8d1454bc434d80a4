"""The GitHub Action and the GitLab template parse, use every input, and run code that exists.

actionlint and GitLab's CI lint are not pip-installable (a Go binary, a GitLab API), so
these checks stand in for them: YAML shape, input wiring, and the paths the steps name.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[4]
ACTION = ROOT / ".github" / "actions" / "airlock-run" / "action.yml"
GITLAB = ROOT / "ci" / "gitlab" / "airlock.gitlab-ci.yml"
SCRIPT = ROOT / "scripts" / "ci" / "airlock-ci.sh"
JOB_ENV = {"AIRLOCK_TASK", "AIRLOCK_POLICY", "AIRLOCK_BUDGET_USD", "AIRLOCK_MAX_TURNS",
           "AIRLOCK_VERIFY", "AIRLOCK_REPO", "AIRLOCK_OUT", "AIRLOCK_EXTRA_ARGS"}  # fmt: skip


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _steps_text(action: dict[str, Any]) -> str:
    return yaml.safe_dump(action["runs"]["steps"]) + yaml.safe_dump(action.get("outputs", {}))


def test_the_action_is_a_composite_that_uses_every_input() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["task"]["required"] is True
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", _steps_text(action)))
    assert used == set(action["inputs"]), "every input is used, and only declared ones"


def test_the_action_runs_the_script_and_always_uploads_the_out_folder() -> None:
    action = _load(ACTION)
    steps = action["runs"]["steps"]
    [run] = [s for s in steps if s.get("id") == "run"]
    assert "${GITHUB_ACTION_PATH}/../../../scripts/ci/airlock-ci.sh" in run["run"]
    assert (ACTION.parent / "../../../scripts/ci/airlock-ci.sh").resolve() == SCRIPT
    assert SCRIPT.stat().st_mode & 0o111, "the script is executable"
    assert set(run["env"]) >= JOB_ENV
    [upload] = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "${{ steps.paths.outputs.out }}"
    assert run["env"]["AIRLOCK_OUT"] == upload["with"]["path"]


def test_no_input_is_spliced_into_a_shell_line() -> None:
    """A task or command spliced into `run:` would be script injection: env only."""
    for step in _load(ACTION)["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step


def test_the_gitlab_template_runs_the_job_module_and_keeps_artifacts_always() -> None:
    job = _load(GITLAB)[".airlock-run"]
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["paths"] == ["${AIRLOCK_OUT}/"]
    assert set(job["variables"]) >= JOB_ENV
    assert job["variables"]["AIRLOCK_POLICY"] == "ci-untrusted"
    [command] = [line for line in job["script"] if "-m orchestrator.devtools.ci_job" in line]
    assert importlib.util.find_spec("orchestrator.devtools.ci_job") is not None
    assert "-m orchestrator.devtools.ci_job" in SCRIPT.read_text(encoding="utf-8"), command
    assert any("airlock images build" in line for line in job["before_script"])


def test_the_example_workflow_gives_only_inputs_the_action_declares() -> None:
    workflow = _load(ROOT / "ci" / "github" / "airlock-workflow.example.yml")
    [step] = [s for s in workflow["jobs"]["agent"]["steps"] if "airlock-run" in s.get("uses", "")]
    assert step["uses"].split("@")[0].endswith("/.github/actions/airlock-run")
    assert set(step["with"]) <= set(_load(ACTION)["inputs"])
    assert "ANTHROPIC_API_KEY" in workflow["jobs"]["agent"]["env"]
