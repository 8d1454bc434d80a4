"""The git guard's classification of configuration keys, command lines and environment.

The guard (sandbox/image_recipes/dev/git_guard.py) is a stdlib script installed in
airlock/dev; these tests load it from the recipe folder. Its behaviour against real
repositories is tested in tests/integration/test_hostile_repo.py.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from sandbox import images

GUARD_PATH = images.images_dir() / "dev" / "git_guard.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("airlock_git_guard", GUARD_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


guard = _load()


def entry(key: str, value: str | None = "x", scope: str = "local") -> object:
    return guard.ConfigEntry(scope, "file:.git/config", key, value)


@pytest.mark.parametrize(
    ("key", "neutral"),
    [
        ("core.fsmonitor", "false"),
        ("core.hookspath", guard.NO_HOOKS),
        ("core.pager", "cat"),
        ("core.editor", ":"),
        ("sequence.editor", ":"),
        ("core.sshcommand", guard.DISABLED),
        ("core.askpass", ""),
        ("core.alternaterefscommand", guard.DISABLED),
        ("diff.external", guard.EXTERNAL_DIFF),
        ("diff.evil.command", guard.EXTERNAL_DIFF),
        ("diff.evil.textconv", guard.IDENTITY_FILTER),
        ("diff.a=b.textconv", guard.IDENTITY_FILTER),
        ("diff.evil.cachetextconv", "false"),
        ("filter.lfs.clean", ""),
        ("filter.lfs.smudge", ""),
        ("filter.lfs.process", ""),
        ("filter.lfs.required", "false"),
        ("merge.evil.driver", f"{guard.MERGE_DRIVER} %O %A %B %L %P"),
        ("gpg.program", guard.DISABLED),
        ("gpg.ssh.program", guard.DISABLED),
        ("gpg.ssh.defaultkeycommand", guard.DISABLED),
        ("man.evil.cmd", guard.DISABLED),
        ("man.evil.path", guard.DISABLED),
        ("help.browser", guard.DISABLED),
        ("web.browser", guard.DISABLED),
        ("browser.evil.cmd", guard.DISABLED),
        ("difftool.evil.cmd", guard.DISABLED),
        ("mergetool.evil.path", guard.DISABLED),
        ("alias.st", ""),
        ("pager.log", "false"),
        ("credential.helper", ""),
        ("credential.https://example.com.helper", ""),
        ("interactive.difffilter", guard.IDENTITY_FILTER),
        ("tar.tgz.command", "git archive gzip"),
        ("uploadpack.packobjectshook", "/usr/bin/env"),
        ("imap.tunnel", guard.DISABLED),
        ("http.savecookies", "false"),
        ("http.https://example.com.savecookies", "false"),
        ("protocol.ext.allow", "never"),
        ("protocol.fd.allow", "never"),
        ("protocol.file.allow", "user"),
        ("protocol.https.allow", "always"),
        ("sendemail.tocmd", guard.DISABLED),
        ("guitool.evil.cmd", guard.DISABLED),
    ],
)
def test_program_keys_get_a_neutral_value(key: str, neutral: str) -> None:
    assert guard.classify(entry(key)) == (key, neutral)


@pytest.mark.parametrize(
    "key",
    [
        "core.repositoryformatversion", "core.filemode", "core.bare", "core.logallrefupdates",
        "core.ignorecase", "core.autocrlf", "core.worktree", "core.longpaths", "user.name",
        "user.email", "remote.origin.url", "remote.origin.fetch", "remote.origin.pushurl",
        "branch.main.remote", "branch.main.merge", "color.ui", "color.diff.meta",
        "diff.algorithm", "diff.evil.binary", "diff.evil.xfuncname", "merge.conflictstyle",
        "merge.evil.name", "submodule.mod.url", "submodule.mod.active", "pull.rebase",
        "init.defaultbranch", "extensions.worktreeconfig", "include.path",
        "includeif.gitdir:/x/.path", "lfs.repositoryformatversion", "gc.auto",
        "http.https://github.com/.extraheader", "http.sslverify", "url.https://x/.insteadof",
        "safe.directory", "maintenance.auto", "fetch.prune", "push.default", "status.short",
        "add.interactive.usebuiltin", "trace2.eventtarget", "core.gitproxy",
        "remote.origin.uploadpack", "remote.origin.receivepack",
    ],
)  # fmt: skip
def test_inert_keys_pass(key: str) -> None:
    value = {"remote.origin.uploadpack": "git-upload-pack",
             "remote.origin.receivepack": "git-receive-pack"}.get(key, "x")  # fmt: skip
    assert guard.classify(entry(key, value)) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("foo.bar", "x"),
        ("core.newfanglecommand", "x"),
        ("diff.evil.newfangle", "x"),
        ("http.https://x.newfangle", "x"),
        ("remote.origin.uploadpack", "/tmp/evil"),
        ("remote.origin.receivepack", "sh -c evil"),
        ("remote.origin.vcs", "evil"),
        ("svn-remote.svn.url", "x"),
    ],
)
def test_unknown_and_first_value_keys_refuse(key: str, value: str) -> None:
    with pytest.raises(guard.Refusal, match=key.replace(".", r"\.")):
        guard.classify(entry(key, value))


def test_the_refusal_names_scope_and_origin() -> None:
    with pytest.raises(guard.Refusal, match=r"local scope, file:\.git/config"):
        guard.classify(entry("foo.bar"))


def test_submodule_update_command_is_neutralized_but_modes_pass() -> None:
    assert guard.classify(entry("submodule.m.update", "!sh evil")) == (
        "submodule.m.update",
        "none",
    )
    assert guard.classify(entry("submodule.m.update", "rebase")) is None


def test_fixed_overrides_come_last_and_win() -> None:
    found = guard.overrides_for([entry("core.fsmonitor"), entry("diff.x.textconv")])
    keys = list(found)
    assert keys[0] == "diff.x.textconv"
    assert found["core.fsmonitor"] == "false"
    assert keys.index("core.fsmonitor") > keys.index("diff.x.textconv")
    assert found["core.hookspath"] == guard.NO_HOOKS


def test_listing_is_parsed_and_malformed_listing_refuses() -> None:
    data = (
        b"local\0file:.git/config\0core.bare\nfalse\0"
        b"command\0command line:\0diff.a=b.textconv\nx\ny\0"
        b"local\0file:.git/config\0core.implicit\0"
    )
    parsed = guard.parse_listing(data)
    assert [(e.scope, e.key, e.value) for e in parsed] == [
        ("local", "core.bare", "false"),
        ("command", "diff.a=b.textconv", "x\ny"),
        ("local", "core.implicit", None),
    ]
    assert parsed[1].subsection == "a=b" and parsed[1].name == "textconv"
    for bad in (b"local\0x\0", b"local\0file\0nodot\nv\0", b"local\0f\0a.b\nv"):
        with pytest.raises(guard.Refusal):
            guard.parse_listing(bad)


def test_config_parameters_quote_like_git() -> None:
    text = guard.config_parameters("'a.b=c'", ["x.y=it's"], {"diff.a=b.textconv": "x!"})
    assert text == "'a.b=c' 'x.y=it'\\''s' 'diff.a=b.textconv'='x'\\!''"


@pytest.mark.parametrize(
    ("argv", "listing", "rest", "texts"),
    [
        (["git", "status"], [], ["status"], []),
        (["git", "-C", "sub", "status", "-s"], ["-C", "sub"], ["-C", "sub", "status", "-s"], []),
        (
            ["git", "-c", "a.b=c", "--git-dir=x", "log"],
            ["--git-dir=x"],
            ["--git-dir=x", "log"],
            ["a.b=c"],
        ),
        (["git", "--no-pager", "-p", "diff"], ["--no-pager"], ["--no-pager", "-p", "diff"], []),
        (["git", "--super-prefix=m/", "status"], [], ["--super-prefix=m/", "status"], []),
        (["git", "--version"], [], ["--version"], []),
        (["/usr/lib/git-core/git", "--bare", "log"], ["--bare"], ["--bare", "log"], []),
    ],
)
def test_global_options_are_parsed(
    argv: list[str], listing: list[str], rest: list[str], texts: list[str]
) -> None:
    inv = guard.parse_invocation(argv[0], argv[1:], {})
    assert (inv.listing_globals, inv.rest, inv.config_texts) == (listing, rest, texts)


@pytest.mark.parametrize(
    "argv",
    [
        ["git", "--exec-path=/tmp/evil", "status"],
        ["git", "--frobnicate", "status"],
        ["git", "-c"],
        ["git", "--config-env=core.pager=NOT_SET", "log"],
    ],
)
def test_unknown_or_dangerous_global_options_refuse(argv: list[str]) -> None:
    with pytest.raises(guard.Refusal):
        guard.parse_invocation(argv[0], argv[1:], {})


def test_dashed_server_commands_take_their_repository_from_the_operand() -> None:
    inv = guard.parse_invocation("/usr/lib/git-core/git-upload-pack", ["--strict", "/r"], {})
    assert (inv.dashed, inv.server_directory) == ("upload-pack", "/r")
    inv = guard.parse_invocation("git", ["-C", "upload-pack", "upload-pack", "/r"], {})
    assert inv.server_directory == "/r"


def test_environment_keeps_where_tls_trust_comes_from() -> None:
    """A session's egress CA reaches git as GIT_SSL_CAINFO (inert: a file it reads as
    certificates, as http.sslCAInfo is), and the proxy as HTTPS_PROXY."""
    env = guard.clean_environment(
        {
            "GIT_SSL_CAINFO": "/tmp/ca.pem",
            "GIT_SSL_CAPATH": "/tmp/certs",
            "HTTPS_PROXY": "http://127.0.0.1:3128",
        }
    )
    assert env["GIT_SSL_CAINFO"] == "/tmp/ca.pem" and env["GIT_SSL_CAPATH"] == "/tmp/certs"
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:3128"


def test_environment_drops_program_and_trace_variables() -> None:
    env = guard.clean_environment(
        {
            "PATH": "/usr/bin",
            "GIT_DIR": "/x",
            "GIT_EXTERNAL_DIFF": "evil",
            "GIT_SSH_COMMAND": "evil",
            "GIT_ASKPASS": "evil",
            "SSH_ASKPASS": "evil",
            "GIT_TEST_FSMONITOR": "evil",
            "GIT_TRACE": "/workspace/trace",
            "GIT_TRACE2_EVENT": "/workspace/trace",
            "GIT_TEMPLATE_DIR": "/evil",
            "GIT_CONFIG": "/evil",
            "GIT_EXEC_PATH": "/evil",
            "GIT_PAGER": "evil",
            "GIT_SOMETHING_NEW": "x",
            "GIT_CONFIG_KEY_0": "a.b",
        }
    )
    assert env["PATH"] == "/usr/bin" and env["GIT_DIR"] == "/x"
    assert env["GIT_CONFIG_KEY_0"] == "a.b"
    for name in ("GIT_EXTERNAL_DIFF", "GIT_SSH_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS",
                 "GIT_TEST_FSMONITOR", "GIT_TRACE", "GIT_TEMPLATE_DIR", "GIT_CONFIG",
                 "GIT_SOMETHING_NEW"):  # fmt: skip
        assert name not in env, name
    assert env["GIT_EXEC_PATH"] == "/usr/lib/git-core"
    assert env["GIT_PAGER"] == "cat" and env["GIT_TRACE2_EVENT"] == "0"
    assert env["GIT_NO_LAZY_FETCH"] == "1" and env["GIT_PROXY_COMMAND"] == ""


def test_external_diff_labels_the_path() -> None:
    diff = (
        b"diff --git a/tmp/x b/tmp/y\nindex 1..2 100644\n--- a/tmp/x\n+++ b/tmp/y\n"
        b"@@ -1 +1 @@\n--- a/keep\n"
    )
    out = guard.relabel(diff, "src/f.py", "/tmp/x", "/tmp/y")
    assert out.split(b"\n")[:4] == [
        b"diff --git a/src/f.py b/src/f.py",
        b"index 1..2 100644",
        b"--- a/src/f.py",
        b"+++ b/src/f.py",
    ]
    assert out.endswith(b"--- a/keep\n")  # hunk lines are left alone
