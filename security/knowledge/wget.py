"""wget: how it reads its arguments, and which of them only fetch to standard output.

Reviewed against ``wget --help`` of GNU Wget 1.21.3 (Debian bookworm). wget reads its
argv with getopt_long: options and URLs mix, long options take ``=value`` or the next
word and may be abbreviated, a boolean one takes an optional ``=on``/``=off`` (and has a
``--no-`` twin), ``-n`` takes letters (``-nv``, ``-nc``). By default wget *writes*: the
download into the working directory, ``~/.wget-hsts`` (the image's ``/home/agent`` is on
the read-only root, so a session cannot), a ``wget-log`` when it gets SIGHUP unless
``-q``. It reads ``/etc/wgetrc``, ``~/.wgetrc`` and the files ``$WGETRC`` and
``$SYSTEM_WGETRC`` name (a line that sets those is refused: knowledge/environment.py).

With the session's egress proxy, what wget can still do besides fetching is judged here:
`WGET_ROUTES` (around the proxy), `wget_sent_file` (local files sent, options read from a
file, a program run), `wget_written_paths`, and `wget_read_only_problem`, the read-only
proof: only ``wget -q -O - URL...`` of literal ``http://``/``https://`` URLs, with options
that only change how the request is made.
"""

from __future__ import annotations

import posixpath

from security.argv import Parsed, getopt
from security.knowledge.curl import fronting_header, is_http_url, remote_name
from security.knowledge.spec import words

_VALUES = """
    execute output-file append-output report-speed input-file base config rejected-log
    tries retry-on-http-error output-document start-pos progress timeout dns-timeout
    connect-timeout read-timeout wait waitretry quota bind-address limit-rate
    restrict-file-names prefer-family user password use-askpass local-encoding
    remote-encoding directory-prefix cut-dirs http-user http-password default-page header
    compression max-redirect proxy-user proxy-password referer user-agent load-cookies
    save-cookies post-data post-file method body-data body-file secure-protocol
    certificate certificate-type private-key private-key-type ca-certificate ca-directory
    crl-file pinnedpubkey ciphers hsts-file ftp-user ftp-password warc-file warc-header
    warc-max-size warc-dedup warc-tempdir level backups accept reject accept-regex
    reject-regex regex-type domains exclude-domains follow-tags ignore-tags
    include-directories exclude-directories
"""
_FLAGS = """
    version help background debug quiet verbose no-verbose force-html no-config
    retry-connrefused no-clobber no-netrc continue show-progress timestamping
    no-if-modified-since no-use-server-timestamps server-response spider random-wait
    no-proxy no-dns-cache ignore-case inet4-only inet6-only ask-password no-iri unlink
    xattr no-directories force-directories no-host-directories protocol-directories
    no-cache adjust-extension ignore-length save-headers no-http-keep-alive no-cookies
    keep-session-cookies content-disposition content-on-error auth-no-challenge
    https-only no-check-certificate no-hsts no-remove-listing no-glob no-passive-ftp
    preserve-permissions retr-symlinks ftps-implicit ftps-resume-ssl
    ftps-clear-data-connection ftps-fallback-to-ftp warc-cdx no-warc-compression
    no-warc-digests no-warc-keep-log recursive delete-after convert-links
    convert-file-only backup-converted mirror page-requisites strict-comments follow-ftp
    span-hosts relative trust-server-names no-parent
"""
# wget 1.21.3's getopt table: every documented option (booleans take an optional value)
WGET = getopt(
    "VhbdqvFcNS46xErkKmpHLn:e:o:a:i:B:t:O:T:w:Q:P:U:l:A:R:D:I:X:",
    " ".join([*(f"{name}=" for name in words(_VALUES)), *(f"{n}[=]" for n in words(_FLAGS))]),
)
_SHORT_NAMES = dict(
    pair.split("=", 1)
    for pair in words(
        """
        V=version h=help b=background d=debug q=quiet v=verbose F=force-html c=continue
        N=timestamping S=server-response 4=inet4-only 6=inet6-only x=force-directories
        E=adjust-extension r=recursive k=convert-links K=backup-converted m=mirror
        p=page-requisites H=span-hosts L=relative n=no e=execute o=output-file
        a=append-output i=input-file B=base t=tries O=output-document T=timeout w=wait
        Q=quota P=directory-prefix U=user-agent l=level A=accept R=reject D=domains
        I=include-directories X=exclude-directories
        """
    )
)

WGET_ROUTES = frozenset({"no-proxy", "bind-address"})
_FILE_OPTIONS = {
    "post-file": "sends a local file",
    "body-file": "sends a local file",
    "input-file": "fetches the URLs a local file holds (its lines become requests)",
    "config": "reads its options from a local file",
    "execute": "runs a .wgetrc command (post_file, output_document, ...)",
    "load-cookies": "sends the cookies of a local file",
    "certificate": "sends a client certificate (a local file)",
    "private-key": "signs with a local private key",
    "use-askpass": "runs a program for credentials",
}
_WRITES_VALUE = frozenset(
    {"output-file", "append-output", "save-cookies", "hsts-file", "rejected-log", "warc-file"}
)
_TREES = frozenset(
    {"recursive", "mirror", "page-requisites", "force-directories", "protocol-directories"}
)
_SERVER_NAMES = frozenset({"content-disposition", "trust-server-names"})
_SERVER_CHOSEN = _SERVER_NAMES | {"recursive", "mirror", "page-requisites"}

_READ_ONLY_FLAGS = frozenset(
    words(
        """
        quiet no-hsts no-config no-netrc no-cookies no-cache
        server-response https-only no-check-certificate retry-connrefused content-on-error
        inet4-only inet6-only no-http-keep-alive no-dns-cache
        """
    )
)
_READ_ONLY_ANY_VALUE = frozenset(
    words(
        """
        tries timeout dns-timeout connect-timeout read-timeout max-redirect limit-rate
        user-agent header referer compression
        """
    )
)


def _name(option: str) -> str:
    """The long name of a getopt option (``-O`` -> ``output-document``)."""
    if option.startswith("--"):
        return option[2:]
    return _SHORT_NAMES.get(option[1:], option[1:])


def read_wget_argv(argv: list[str]) -> Parsed:
    """wget's options (long names, see `WGET`) and URLs (``operands``) of an argv."""
    return WGET.parse(argv[1:])


def _urls(argv: list[str], parsed: Parsed) -> list[str]:
    return [argv[1 + index] for index in parsed.operands]


def wget_route(parsed: Parsed) -> str | None:
    """The first option that tries to reach a host around the session's proxy, or
    another host than its URL names through it (``--header='Host: x'``)."""
    for option in parsed.options:
        name = _name(option.name)
        if name in WGET_ROUTES:
            return f"wget --{name} reaches hosts around the session's proxy"
        if name == "header" and fronting_header(option.value or ""):
            return f"wget --header={option.value!r} names another host than the URL's"
    return None


def wget_sent_file(parsed: Parsed) -> str | None:
    """The first option that sends a local file, reads options from one or runs a
    program."""
    for option in parsed.options:
        name = _name(option.name)
        if name in _FILE_OPTIONS:
            shown = f"={option.value}" if option.value is not None else ""
            return f"wget --{name}{shown} {_FILE_OPTIONS[name]}"
    return None


def wget_written_paths(argv: list[str]) -> list[tuple[str, str]]:
    """(path, how) for each file a wget argv writes: ``-O FILE`` (else each URL's file
    name, or a tree, in ``-P DIR``), logs, cookies, WARC and HSTS files."""
    parsed = read_wget_argv(argv)
    if parsed.error:
        return []
    named = [(_name(option.name), option.value) for option in parsed.options]
    found = [
        (value, f"wget --{name}")
        for name, value in named
        if name in _WRITES_VALUE and value is not None and value != "-"
    ]
    documents = [value for name, value in named if name == "output-document"]
    found += [(value, "wget --output-document") for value in documents if value not in (None, "-")]
    if documents:
        return found
    folders = [value or "." for name, value in named if name == "directory-prefix"] or ["."]
    names = {name for name, _ in named}
    for url in _urls(argv, parsed):
        file = "*" if names & (_TREES | _SERVER_NAMES) else _file_name(url)
        for folder in folders:
            found.append((posixpath.join(folder, file), "wget (the download)"))
    return found


def _file_name(url: str) -> str:
    name = remote_name(url)
    return "index.html" if name == "*" else name


def wget_server_names(parsed: Parsed) -> str | None:
    """Options by which the server names the files wget writes (a recursive download
    follows the links it serves; ``--content-disposition`` takes its header's name):
    ``.npmrc``, ``Makefile``, ``.git/...`` below the working directory, unseen."""
    for option in parsed.options:
        name = _name(option.name)
        if name in _SERVER_CHOSEN:
            return f"wget --{name} writes files the server names"
    return None


def wget_read_only_problem(argv: list[str]) -> str | None:
    """Why a wget argv is not ``wget -q -O - URL...`` (literal http(s) URLs, options that
    only change how the request is made), or None. Meant for sessions with an egress
    proxy."""
    parsed = read_wget_argv(argv)
    if parsed.error:
        return f"wget: {parsed.error}"
    quiet = stdout = False
    for option in parsed.options:
        name, value = _name(option.name), option.value
        shown = f"wget --{name}" + (f"={value}" if value is not None else "")
        if option.name == "-n":
            shown = f"wget -n{value}"  # -nv, -nc, -nd, -nH, -np
        if name == "output-document":
            if value != "-":
                return f"{shown} writes a file"
            stdout = True
        elif name in _READ_ONLY_FLAGS and value is None:
            quiet = quiet or name == "quiet"
        elif name == "header" and fronting_header(value or ""):
            return f"{shown} names another host than the URL's"
        elif name not in _READ_ONLY_ANY_VALUE:
            return f"{shown} is not a read-only fetch"
    if not stdout:
        return "wget without -O - writes the download into a file"
    if not quiet:
        return "wget without -q may write a wget-log file (on SIGHUP)"
    for url in _urls(argv, parsed):
        if not is_http_url(url):
            return f"wget {url}: not an http:// or https:// URL"
    return None
