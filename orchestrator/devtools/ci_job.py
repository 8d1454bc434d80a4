"""One `airlock run` as a CI job step: settings from the environment, a Markdown summary,
optionally a pull request, and airlock's own exit code.

Started by ``scripts/ci/airlock-ci.sh`` (the GitHub Action and the GitLab template call
it). The settings are environment variables, so a workflow never splices them into a
shell line: ``AIRLOCK_EXTRA_ARGS`` is split like a shell would split words (``shlex``)
but never run by one.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from orchestrator.cli.exit_codes import ExitCode
from orchestrator.devtools.ci_report import fenced, render

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_OUTCOMES = (ExitCode.OK, ExitCode.UNVERIFIED)  # a pull request only from a finished run
GIT_TIMEOUT_S = 300


class UsageError(Exception):
    """A setting the job cannot run with."""


@dataclass(frozen=True)
class JobSettings:
    """The job's settings, read from ``AIRLOCK_*`` environment variables."""

    task: str
    repo: Path
    out: Path
    policy: str
    budget_usd: str | None
    max_turns: str | None
    verify: str | None
    replay: str | None
    extra_args: list[str]
    open_pr: bool

    @classmethod
    def from_env(cls, env: dict[str, str]) -> JobSettings:
        """Read the settings; ``UsageError`` names the first one that is wrong."""
        task = env.get("AIRLOCK_TASK", "").strip()
        if not task:
            raise UsageError("AIRLOCK_TASK is not set: say what the agent should do")
        try:
            extra = shlex.split(env.get("AIRLOCK_EXTRA_ARGS", ""))
        except ValueError as error:
            raise UsageError(f"AIRLOCK_EXTRA_ARGS cannot be split into words: {error}") from None
        open_pr = env.get("AIRLOCK_OPEN_PR", "").strip().lower()
        if open_pr not in ("", "0", "1", "true", "false"):
            raise UsageError("AIRLOCK_OPEN_PR must be 1/true or 0/false")
        return cls(
            task=task,
            repo=Path(env.get("AIRLOCK_REPO") or "."),
            out=Path(env.get("AIRLOCK_OUT") or _default_out(env)),
            policy=env.get("AIRLOCK_POLICY") or "ci-untrusted",
            budget_usd=env.get("AIRLOCK_BUDGET_USD") or None,
            max_turns=env.get("AIRLOCK_MAX_TURNS") or None,
            verify=env.get("AIRLOCK_VERIFY") or None,
            replay=env.get("AIRLOCK_REPLAY") or None,
            extra_args=extra,
            open_pr=open_pr in ("1", "true"),
        )


def _default_out(env: dict[str, str]) -> str:
    """Outside the checkout on GitHub (its temp folder); else ./airlock-out."""
    runner_temp = env.get("RUNNER_TEMP")
    return str(Path(runner_temp) / "airlock-out") if runner_temp else "airlock-out"


def run_argv(airlock: str, settings: JobSettings) -> list[str]:
    """The ``airlock run`` command line for ``settings``."""
    argv = [airlock, "run", settings.task, "--repo", str(settings.repo), "--out",
            str(settings.out), "--policy", settings.policy, "--json"]  # fmt: skip
    for flag, value in (
        ("--budget-usd", settings.budget_usd),
        ("--max-turns", settings.max_turns),
        ("--verify", settings.verify),
        ("--replay", settings.replay),
    ):
        if value is not None:
            argv += [flag, value]
    return [*argv, *settings.extra_args]


def find_airlock() -> str:
    """The ``airlock`` installed beside this interpreter, else the one on PATH."""
    found = shutil.which("airlock", path=str(Path(sys.executable).parent)) or shutil.which(
        "airlock"
    )
    if found is None:
        raise UsageError("no `airlock` command beside this Python or on PATH")
    return found


def run_forwarding_signals(argv: list[str]) -> int:
    """Run ``argv``; a cancel (SIGINT, SIGTERM, SIGHUP) is passed on and waited out.

    The child runs in its own session, so a signal to the job's process group reaches it
    once, from here, and it can finish its out folder and exit 130/143/129.
    """
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def write_summary(markdown: str, out: Path, env: dict[str, str]) -> list[Path]:
    """Write ``markdown`` to ``out``/summary.md and append it to ``$GITHUB_STEP_SUMMARY``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.md"]
    written[0].write_text(markdown, encoding="utf-8")
    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with Path(step_summary).open("a", encoding="utf-8") as sink:
            sink.write(markdown)
        written.append(Path(step_summary))
    return written


def check_pr_tools(env: dict[str, str]) -> None:
    """Refuse before the run, not after it spent its budget, when a PR cannot be opened."""
    if shutil.which("gh") is None:
        raise UsageError("AIRLOCK_OPEN_PR=1 needs the GitHub CLI `gh` on PATH; it is missing")
    if not (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")):
        raise UsageError("AIRLOCK_OPEN_PR=1 needs GITHUB_TOKEN (or GH_TOKEN) for `gh`")


def open_pull_request(settings: JobSettings, env: dict[str, str]) -> None:
    """Commit the patch on a new branch of the checkout, push it and open a PR with `gh`.

    The patch is applied with ``git apply --index`` (which writes files, never runs
    them), with hooks off; it is never executed.
    """
    patch = (settings.out / "patch.diff").resolve()
    branch = env.get("AIRLOCK_PR_BRANCH") or f"airlock/run-{env.get('GITHUB_RUN_ID', 'local')}"
    title = " ".join(f"airlock: {settings.task}".split())[:120]
    git = ["git", "-C", str(settings.repo), "-c", "core.hooksPath=/dev/null"]
    identity = ["-c", "user.name=airlock", "-c", "user.email=airlock@users.noreply.github.com"]
    _step([*git, "switch", "-c", branch])
    _step([*git, "apply", "--index", str(patch)])
    _step([*git, *identity, "commit", "--no-verify", "-m", title])
    _step([*git, "push", "origin", f"HEAD:refs/heads/{branch}"])
    create = ["gh", "pr", "create", "--head", branch, "--title", title,
              "--body-file", str(settings.out / "summary.md")]  # fmt: skip
    if env.get("AIRLOCK_PR_BASE"):
        create += ["--base", env["AIRLOCK_PR_BASE"]]
    _step(create, cwd=settings.repo)


def _step(argv: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, timeout=GIT_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {done.returncode}")


def main(env: dict[str, str] | None = None) -> int:
    """Run the job; return airlock's exit code (1 if it was 0 and reporting failed)."""
    env = dict(os.environ if env is None else env)
    try:
        settings = JobSettings.from_env(env)
        if settings.open_pr:
            check_pr_tools(env)
        airlock = find_airlock()
    except UsageError as error:
        print(f"airlock-ci: usage error: {error}", file=sys.stderr)
        _report_usage_error(str(error), env)
        return ExitCode.USAGE
    code = run_forwarding_signals(run_argv(airlock, settings))
    try:
        markdown = render(settings.out, code)
        for path in write_summary(markdown, settings.out, env):
            print(f"airlock-ci: summary written to {path}", file=sys.stderr)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"airlock-ci: could not write the summary: {error}", file=sys.stderr)
        return code or ExitCode.FAILED
    if settings.open_pr:
        return _maybe_open_pr(settings, env, code)
    return code


def _report_usage_error(message: str, env: dict[str, str]) -> None:
    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if not step_summary:
        return
    markdown = f"## airlock run\n\n**Exit code 64**: the job's settings:\n{fenced(message)}\n"
    try:
        with Path(step_summary).open("a", encoding="utf-8") as sink:
            sink.write(markdown)
    except OSError as error:
        print(f"airlock-ci: could not write the summary: {error}", file=sys.stderr)


def _maybe_open_pr(settings: JobSettings, env: dict[str, str], code: int) -> int:
    patch = settings.out / "patch.diff"
    if code not in PR_OUTCOMES:
        print(f"airlock-ci: no pull request: the run exited {code}", file=sys.stderr)
        return code
    if not patch.is_file() or not patch.read_bytes().strip():
        print("airlock-ci: no pull request: the patch is empty", file=sys.stderr)
        return code
    try:
        open_pull_request(settings, env)
    except (OSError, subprocess.SubprocessError, RuntimeError) as error:
        print(f"airlock-ci: could not open the pull request: {error}", file=sys.stderr)
        return code or ExitCode.FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
