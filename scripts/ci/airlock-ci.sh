#!/usr/bin/env bash
# One `airlock run` as a CI step: the GitHub Action (.github/actions/airlock-run) and the
# GitLab template (ci/gitlab/airlock.gitlab-ci.yml) call this. Settings are environment
# variables (AIRLOCK_TASK, AIRLOCK_POLICY, ...: see README "In CI"); the work is done by
# orchestrator/devtools/ci_job.py in the Python that airlock is installed in, so this
# needs nothing but the installed airlock, git and coreutils. Exits with airlock's code.
set -euo pipefail

if [[ -n "${AIRLOCK_PYTHON:-}" ]]; then
    python="${AIRLOCK_PYTHON}"
else
    airlock="$(command -v airlock || true)"
    if [[ -z "${airlock}" ]]; then
        echo "airlock-ci: no \`airlock\` on PATH; install it or set AIRLOCK_PYTHON" >&2
        exit 64
    fi
    # A venv (or pipx) puts its interpreter beside its scripts; else the script's shebang.
    python="${airlock%/*}/python"
    if [[ ! -x "${python}" ]]; then
        IFS= read -r shebang < "${airlock}" || true
        python="${shebang#\#!}"
    fi
fi
if [[ ! -x "${python}" ]] || ! "${python}" -c 'import orchestrator.devtools.ci_job' 2>/dev/null; then
    echo "airlock-ci: ${python} cannot import airlock's ci_job; set AIRLOCK_PYTHON" \
        "to the Python airlock is installed in" >&2
    exit 64
fi
exec "${python}" -m orchestrator.devtools.ci_job
