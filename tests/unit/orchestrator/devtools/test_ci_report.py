"""The CI summary keeps text the agent or repository chose inside code blocks, says what it
cuts, and reads the patch without applying it."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.cli.exit_codes import ExitCode
from orchestrator.devtools.ci_report import (
    MAX_TEXT_CHARS,
    RUN_EXIT_MEANINGS,
    clipped,
    fenced,
    patch_stat,
    render,
)

HOSTILE = "ok\n```\n![pixel](https://evil.example/p.png) <img src=x onerror=alert(1)>\n````"


def test_no_text_can_close_its_fence() -> None:
    block = fenced(HOSTILE)
    fence = block.split("text\n", 1)[0]
    assert len(fence) == 5  # longer than the 4-backtick run inside
    body = block.removeprefix(fence + "text\n").removesuffix("\n" + fence)
    assert body == HOSTILE and fence not in body


def test_a_cut_says_so() -> None:
    assert clipped("x" * (MAX_TEXT_CHARS + 7)).endswith("[... 7 more characters in the out folder]")
    assert clipped("short") == "short"


def test_every_run_exit_code_has_a_meaning() -> None:
    run_codes = {0, 1, 3, 4, 5, 6, 64, 129, 130, 143}
    assert set(RUN_EXIT_MEANINGS) == run_codes


def test_hostile_summary_fields_stay_in_code_blocks(tmp_path: Path) -> None:
    summary = {"outcome": HOSTILE, "error": HOSTILE, "policy": HOSTILE, "cost_usd": "1e9",
               "verdicts": {"deny": True}, "verification": {"command": HOSTILE,
               "allowed": True, "exit_code": 1, "output_tail": HOSTILE}}  # fmt: skip
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    text = render(tmp_path, ExitCode.VERIFY_FAILED)
    outside = text
    while "`````text\n" in outside:  # drop every fenced block: what is left is ours
        head, rest = outside.split("`````text\n", 1)
        outside = head + rest.split("\n`````", 1)[1]
    assert "evil.example" not in outside and "<img" not in outside
    assert text.count("evil.example") == 4  # outcome, error, command, output: all shown
    assert "| cost | ? |" in text and "| verdicts: deny | ? |" in text
    assert "a policy file (see summary.json)" in text


def test_the_stat_reads_a_patch_with_hostile_names_without_applying_it(tmp_path: Path) -> None:
    name = "a`b/../../x"
    patch = tmp_path / "patch.diff"
    patch.write_text(
        f'diff --git "a/{name}" "b/{name}"\nnew file mode 100755\nindex 0000000..e69de29\n'
        f'--- /dev/null\n+++ "b/{name}"\n@@ -0,0 +1 @@\n+x\n'
    )
    stat = patch_stat(patch)  # only read: the name is shown (fenced later), nothing written
    assert " a`b/../../x |    1 +" in stat and "1\t0\ta`b/../../x" in stat
    good = tmp_path / "good.diff"
    good.write_text(
        "diff --git a/tool b/tool\nnew file mode 100755\nindex 0000000..e69de29\n"
        "--- /dev/null\n+++ b/tool\n@@ -0,0 +1 @@\n+x\n"
    )
    assert "create mode 100755 tool" in patch_stat(good)
    assert "1\t0\ttool" in patch_stat(good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.diff", "patch.diff"]
    empty = tmp_path / "empty.diff"
    empty.write_text("")
    assert patch_stat(empty) == "(the patch is empty: no file changed)"
