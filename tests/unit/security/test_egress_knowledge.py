"""How curl, wget, pip and npm read their argv (knowledge/curl.py, wget.py, installers.py):
what they send, where they write, and which argv is a read-only fetch."""

from __future__ import annotations

import pytest

from security import PRESETS, Decision, analyze
from security.knowledge.curl import (
    curl_read_only_problem,
    curl_sent_file,
    curl_written_paths,
    read_curl_argv,
    resolve_long,
)
from security.knowledge.installers import (
    install_outside,
    install_route,
    npm_global,
    npm_subcommand,
    npm_written_paths,
    pip_written_paths,
    read_pip_argv,
)
from security.knowledge.wget import read_wget_argv, wget_read_only_problem, wget_written_paths


def curl(*args: str) -> list[tuple[str, str | None]]:
    parsed = read_curl_argv(["curl", *args])
    assert parsed.error is None, parsed.error
    return [(o.name, o.value) for o in parsed.options]


def test_curl_reads_clusters_and_values_as_curl_does() -> None:
    assert curl("-sSL") == [("silent", None), ("show-error", None), ("location", None)]
    assert curl("-XPOST") == [("request", "POST")]
    assert curl("-so", "out") == [("silent", None), ("output", "out")]
    assert curl("-sofile") == [("silent", None), ("output", "file")]
    assert curl("-qo-") == [("disable", None), ("output", "-")]
    assert curl("-:", "-#") == [("next", None), ("progress-bar", None)]


def test_curl_long_options_take_the_next_word_and_may_be_abbreviated() -> None:
    assert resolve_long("sil") == ("silent", None)
    assert resolve_long("output") == ("output", None)  # exact, though output-dir exists
    assert resolve_long("no-silent") == ("silent", None)
    assert resolve_long("conf") == ("config", None)
    for word, why in [
        ("out", "ambiguous"),
        ("output=x", "unknown"),
        ("no-output", "--no- only turns a flag off"),
        ("frobnicate", "unknown"),
    ]:
        name, problem = resolve_long(word)
        assert name is None and problem is not None and why in problem, (word, problem)


def test_curl_urls_are_operands_after_dashdash_and_url_values() -> None:
    parsed = read_curl_argv(["curl", "--url", "https://a", "b", "--", "-o", "x"])
    assert [url for _, url in parsed.urls] == ["https://a", "b", "-o", "x"]
    assert read_curl_argv(["curl", "-o"]).error == "-o needs a value"
    assert read_curl_argv(["curl", "-", "x"]).error is not None


@pytest.mark.parametrize(
    ("args", "sends"),
    [
        (["-d", "@.env"], True),
        (["--data-binary", "@-"], True),
        (["--data-raw", "@x"], False),  # raw: the @ is text
        (["-d", "a=@b"], False),
        (["--data-urlencode", "n@file"], True),
        (["--data-urlencode", "n=a@b"], False),
        (["--url-query", "@q"], True),
        (["-F", "f=@x"], True),
        (["-F", "f=<x"], True),
        (["--form-string", "f=@x"], False),
        (["-H", "@h"], True),
        (["-H", "X: @y"], False),
        (["-b", "jar"], True),
        (["-b", "a=b"], False),
        (["-T", "x"], True),
        (["-K", "cfg"], True),
        (["-n"], True),
        (["--key", "k"], True),
        (["--etag-compare", "e"], True),
        (["-s"], False),
    ],
)
def test_curl_options_that_send_a_local_file(args: list[str], sends: bool) -> None:
    assert (curl_sent_file(read_curl_argv(["curl", *args, "https://h/"])) is not None) is sends


@pytest.mark.parametrize(
    ("args", "paths"),
    [
        (["-o", "out", "https://h/x"], ["out"]),
        (["-o", "-", "https://h/x"], []),
        (["-O", "https://h/a/b.tgz?x=1"], ["./b.tgz"]),
        (["-O", "--output-dir", "/opt", "https://h/b"], ["/opt/b"]),
        (["-OJ", "https://h/b"], ["./*"]),
        (["-D", "h.txt", "-c", "jar", "--trace", "t", "https://h/"], ["h.txt", "jar", "t"]),
        (["--stderr", "-", "https://h/"], []),
        (["-w", "%output{>>log}%{http_code}", "https://h/"], ["log"]),
        (["--outp", "x", "https://h/"], []),  # curl refuses the line: it writes nothing
    ],
)
def test_curl_written_paths(args: list[str], paths: list[str]) -> None:
    assert [path for path, _ in curl_written_paths(["curl", *args])] == paths


@pytest.mark.parametrize(
    ("args", "read_only"),
    [
        (["-s", "https://h/x"], True),
        (["-sSfL", "-H", "Accept: x", "-m", "5", "https://h/x", "http://g/y"], True),
        (["-s", "-o", "/dev/null", "-w", "%{http_code}", "https://h/"], True),
        (["-I", "-X", "HEAD", "https://h/"], True),
        (["-X", "POST", "https://h/"], False),
        (["-d", "a=b", "https://h/"], False),
        (["-o", "f", "https://h/"], False),
        (["-w", "@fmt", "https://h/"], False),
        (["-H", "@h", "https://h/"], False),
        (["-u", "a:b", "https://h/"], False),
        (["-H", "Host: other.example", "https://h/"], False),  # domain fronting
        (["h.example/x"], False),  # no scheme: curl guesses one (ftp.x is ftp)
        (["file:///etc/passwd"], False),
        (["--url", "gopher://h/"], False),
        (["--frobnicate", "https://h/"], False),
    ],
)
def test_curl_read_only_fetches(args: list[str], read_only: bool) -> None:
    assert (curl_read_only_problem(["curl", *args]) is None) is read_only


@pytest.mark.parametrize(
    ("args", "read_only"),
    [
        (["-qO-", "https://h/x"], True),
        (["-q", "-O", "-", "-T", "5", "--header=X: y", "https://h/x"], True),
        (["--quiet", "--output-document=-", "--no-hsts", "https://h/x"], True),
        (["-q", "-nv", "-O-", "https://h/"], False),  # -nv, -v: verbose again
        (["-q", "-v", "-O-", "https://h/"], False),
        (["-O-", "https://h/"], False),  # not quiet: a SIGHUP writes wget-log
        (["-q", "https://h/x"], False),  # the download goes into a file
        (["-qO", "x", "https://h/"], False),
        (["-q", "-nc", "-O-", "https://h/"], False),
        (["-qO-", "--quiet=off", "https://h/"], False),
        (["-qO-", "ftp://h/x"], False),
        (["-qO-", "-i", "urls"], False),
        (["-qO-", "--no-proxy", "https://h/"], False),
        (["-qO-", "--header=Host: other.example", "https://h/"], False),
    ],
)
def test_wget_read_only_fetches(args: list[str], read_only: bool) -> None:
    assert (wget_read_only_problem(["wget", *args]) is None) is read_only


def test_wget_reads_its_argv_with_getopt() -> None:
    parsed = read_wget_argv(["wget", "https://h/", "-qO-", "--post-f", ".env", "--", "-x"])
    assert [(o.name, o.value) for o in parsed.options] == [
        ("-q", None),
        ("-O", "-"),
        ("--post-file", ".env"),
    ]
    assert parsed.operands == [0, 5]


@pytest.mark.parametrize(
    ("args", "paths"),
    [
        (["https://h/a/b.tgz"], ["./b.tgz"]),
        (["https://h/"], ["./index.html"]),
        (["-P", "/opt", "https://h/x"], ["/opt/x"]),
        (["-r", "https://h/x"], ["./*"]),
        (["-O", "f", "-o", "log", "https://h/"], ["log", "f"]),
        (["-qO-", "https://h/"], []),
    ],
)
def test_wget_written_paths(args: list[str], paths: list[str]) -> None:
    assert [path for path, _ in wget_written_paths(["wget", *args])] == paths


def test_pip_finds_its_subcommand_after_general_options() -> None:
    assert read_pip_argv(["pip", "--log", "/tmp/l", "install", "x"])[0] == "install"
    assert read_pip_argv(["pip", "--proxy", "http://p", "-q", "install"])[0] == "install"
    # the subcommand found, an install asks with or without egress (it was missed)
    for name in ("read-only", "dev"):
        verdict = analyze("pip --log /tmp/l install x", PRESETS[name])
        assert verdict.decision is Decision.ASK
        assert "S32" in {f.check for f in verdict.findings}


@pytest.mark.parametrize(
    ("argv", "paths"),
    [
        (["pip", "install", "-t", "/opt/x", "--prefix=/usr", "x"], ["/opt/x", "/usr"]),
        (["pip", "install", "--user", "x"], ["~/.local"]),
        (["pip", "download", "-d", "d", "x"], ["d"]),
        (["pip", "wheel", "-w", "w", "--log", "-", "."], ["w"]),
        (["pip", "install", "-r", "requirements.txt"], []),
        (["pip", "config", "set", "a.b", "c"], ["~/.config/pip/pip.conf"]),
        (["pip", "config", "--site", "set", "a.b", "c"], ["$VIRTUAL_ENV/pip.conf"]),
        (["pip", "config", "get", "a.b"], []),
    ],
)
def test_pip_written_paths(argv: list[str], paths: list[str]) -> None:
    assert [path for path, _ in pip_written_paths(argv)] == paths


def test_npm_subcommand_global_and_paths() -> None:
    assert npm_subcommand(["npm", "--prefix", "web", "ci"]) == ("ci", [])
    assert npm_subcommand(["npm", "-g", "install", "x"]) == ("install", ["x"])
    for args in (["-g"], ["--global"], ["--glob"], ["-gS"], ["--location=global"],
                 ["--location", "global"]):  # fmt: skip
        assert npm_global(["install", *args, "x"]), args
    for args in (["--global=false"], ["--global-style"], ["--location=project"], []):
        assert not npm_global(["install", *args, "x"]), args
    assert npm_written_paths(["npm", "ci", "--prefix", "/opt/w"]) == [("/opt/w", "npm ci --prefix")]
    assert npm_written_paths(["npm", "config", "set", "k", "v"]) == [("~/.npmrc", "npm config set")]
    assert npm_written_paths(["npm", "set", "k", "v", "--location=project"]) == [
        (".npmrc", "npm config set")
    ]
    assert npm_written_paths(["npm", "config", "get", "k"]) == []


def test_installs_outside_the_project_and_around_the_proxy() -> None:
    assert install_outside("npm", ["install", "-g", "x"]) is not None
    assert install_outside("pip", ["install", "--user", "x"]) is not None
    assert install_outside("pip", ["install", "--frobnicate", "x"]) is not None
    assert install_outside("pip", ["install", "-r", "requirements.txt"]) is None
    assert install_outside("npm", ["ci"]) is None
    assert install_route("pip", ["--proxy", "http://p", "install", "x"]) is not None
    assert install_route("pip", ["install", "--no-proxy-env", "x"]) is not None
    assert install_route("npm", ["install", "--https-proxy=http://p"]) is not None
    assert install_route("npm", ["install", "--no-proxy"]) is not None
    assert install_route("npm", ["ci"]) is None
    assert install_route("pip", ["install", "x"]) is None
