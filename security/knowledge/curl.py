"""curl: how it reads its arguments, and which of them fetch over HTTP(S) alone.

Reviewed against ``curl --help all`` of curl 7.88.1 (Debian bookworm) and curl's own
argument reader (tool_getparam.c): a word that starts with ``-`` is an option until a
``--``; a long option is ``--name`` followed by its value as the next word (never
``--name=value``), named in full or by an unambiguous prefix, and a boolean one may be
turned off as ``--no-name``; short options cluster (``-sSL``), and one that takes a value
takes the rest of its word or the next word (``-XGET``, ``-o out``); every other word is
a URL. What this table does not know is an error, never a guess.

With the session's egress proxy (the policy's ``network.allow``), the sandbox has no
interface but loopback and curl reaches hosts only through the proxy, which judges each
by name. What curl can still do besides fetching is judged here:

- `CURL_ROUTES`: options that try to reach a host some other way than through the proxy
  (``--noproxy '*'``, ``--proxy``, ``--resolve``, ``--unix-socket``...). The sandbox makes
  them fail; no fetch a policy means needs them. A ``Host:`` header (``-H 'Host: x'``)
  names another host than the URL's, which inside TLS the proxy cannot see (domain
  fronting through an allowed host's CDN): it counts as one.
- `curl_sent_file`: options that read a local file and send what it holds
  (``-d @FILE``, ``-F name=@FILE``, ``-T FILE``, ``-H @FILE``, ``-b FILE``, ``-K FILE``, a
  netrc, a client key): an exfiltration to an allowed host is still one.
- `curl_written_paths`: options that write files (``-o``, ``-O``, ``--output-dir``, ``-D``,
  ``-c``, ``--trace``, ``--libcurl``, ``--etag-save``, ``--hsts``, ``--alt-svc``, ``--stderr``).
- `curl_read_only_problem`: the read-only proof, an allowlist: GET or HEAD of literal
  ``http://`` or ``https://`` URLs to standard output, with options that only change how
  the request is made or shown. curl reads no configuration but ``.curlrc`` in
  ``$CURL_HOME``, ``$XDG_CONFIG_HOME`` or ``$HOME`` (the image's read-only
  ``/home/agent``); a line that sets one of those is refused (knowledge/environment.py).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from security.knowledge.spec import words

# Every option of curl 7.88.1 (`curl --help all`), by whether it takes a value.
CURL_FLAGS = frozenset(
    words(
        """
        anyauth append basic cert-status compressed compressed-ssh create-dirs crlf digest
        disable disable-eprt disable-epsv disallow-username-in-url doh-cert-status
        doh-insecure fail fail-early fail-with-body false-start form-escape ftp-create-dirs
        ftp-pasv ftp-pret ftp-skip-pasv-ip ftp-ssl-ccc ftp-ssl-control get globoff
        haproxy-protocol head http0.9 http1.0 http1.1 http2 http2-prior-knowledge http3
        http3-only ignore-content-length include insecure ipv4 ipv6 junk-session-cookies
        list-only location location-trusted mail-rcpt-allowfails manual metalink negotiate
        netrc netrc-optional next no-alpn no-buffer no-clobber no-keepalive no-npn
        no-progress-meter no-sessionid ntlm ntlm-wb parallel parallel-immediate path-as-is
        post301 post302 post303 progress-bar proxy-anyauth proxy-basic proxy-digest
        proxy-insecure proxy-negotiate proxy-ntlm proxy-ssl-allow-beast
        proxy-ssl-auto-client-cert proxy-tlsv1 proxytunnel raw remote-header-name
        remote-name remote-name-all remote-time remove-on-error retry-all-errors
        retry-connrefused sasl-ir show-error silent socks5-basic socks5-gssapi
        socks5-gssapi-nec ssl ssl-allow-beast ssl-auto-client-cert ssl-no-revoke ssl-reqd
        ssl-revoke-best-effort sslv2 sslv3 styled-output suppress-connect-headers
        tcp-fastopen tcp-nodelay tftp-no-options tlsv1 tlsv1.0 tlsv1.1 tlsv1.2 tlsv1.3
        tr-encoding trace-time use-ascii verbose version xattr
        """
    )
)
CURL_VALUES = frozenset(
    words(
        """
        abstract-unix-socket alt-svc aws-sigv4 cacert capath cert cert-type ciphers config
        connect-timeout connect-to continue-at cookie cookie-jar create-file-mode crlfile
        curves data data-ascii data-binary data-raw data-urlencode delegation dns-interface
        dns-ipv4-addr dns-ipv6-addr dns-servers doh-url dump-header egd-file engine
        etag-compare etag-save expect100-timeout form form-string ftp-account
        ftp-alternative-to-user ftp-method ftp-port ftp-ssl-ccc-mode
        happy-eyeballs-timeout-ms header help hostpubmd5 hostpubsha256 hsts interface json
        keepalive-time key key-type krb libcurl limit-rate local-port login-options
        mail-auth mail-from mail-rcpt max-filesize max-redirs max-time netrc-file noproxy
        oauth2-bearer output output-dir parallel-max pass pinnedpubkey preproxy proto
        proto-default proto-redir proxy proxy-cacert proxy-capath proxy-cert
        proxy-cert-type proxy-ciphers proxy-crlfile proxy-header proxy-key proxy-key-type
        proxy-pass proxy-pinnedpubkey proxy-service-name proxy-tls13-ciphers
        proxy-tlsauthtype proxy-tlspassword proxy-tlsuser proxy-user proxy1.0 pubkey quote
        random-file range rate referer request request-target resolve retry retry-delay
        retry-max-time sasl-authzid service-name socks4 socks4a socks5
        socks5-gssapi-service socks5-hostname speed-limit speed-time stderr telnet-option
        tftp-blksize time-cond tls-max tls13-ciphers tlsauthtype tlspassword tlsuser trace
        trace-ascii unix-socket upload-file url url-query user user-agent write-out
        """
    )
)
CURL_SHORT: dict[str, str] = dict(
    pair.split("=", 1)
    for pair in words(
        """
        a=append E=cert K=config C=continue-at b=cookie c=cookie-jar d=data q=disable
        D=dump-header f=fail F=form P=ftp-port G=get g=globoff I=head H=header h=help
        0=http1.0 i=include k=insecure 4=ipv4 6=ipv6 j=junk-session-cookies l=list-only
        L=location M=manual m=max-time n=netrc :=next N=no-buffer o=output Z=parallel
        #=progress-bar x=proxy U=proxy-user p=proxytunnel Q=quote r=range e=referer
        J=remote-header-name O=remote-name R=remote-time X=request S=show-error s=silent
        Y=speed-limit y=speed-time 2=sslv2 3=sslv3 t=telnet-option z=time-cond 1=tlsv1
        T=upload-file B=use-ascii u=user A=user-agent v=verbose V=version w=write-out
        """
    )
)
_NAMES = tuple(sorted(CURL_FLAGS | CURL_VALUES))

# Options that reach a host some other way than through the session's proxy.
CURL_ROUTES = frozenset(
    words(
        """
        proxy preproxy noproxy proxy1.0 socks4 socks4a socks5 socks5-hostname connect-to
        resolve unix-socket abstract-unix-socket interface dns-servers dns-interface
        dns-ipv4-addr dns-ipv6-addr doh-url local-port ftp-port alt-svc request-target
        haproxy-protocol
        """
    )
)
# Options whose value is sent, or names a local file sent, when it starts with `@` (or
# holds one): the body, a header, a query, a form field.
_DATA_AT_FILE = frozenset(words("data data-ascii data-binary json"))  # `@FILE` sends FILE
_ENCODED_AT_FILE = frozenset(words("data-urlencode url-query"))  # `@FILE`, `name@FILE`
_HEADER_AT_FILE = frozenset(words("header proxy-header"))  # `@FILE`: headers from FILE
_FORMS = frozenset({"form"})  # `name=@FILE` uploads FILE, `name=<FILE` sends its content

# Options whose value is a file curl writes ("-" is standard output).
_WRITES_VALUE = frozenset(
    words(
        """
        output dump-header cookie-jar trace trace-ascii libcurl etag-save hsts alt-svc
        stderr
        """
    )
)
_REMOTE_NAMES = frozenset(words("remote-name remote-name-all remote-header-name"))

# The read-only proof: options that only change how a GET is made or shown, and options
# whose value `_read_only_value` checks.
_READ_ONLY_FLAGS = frozenset(
    words(
        """
        silent show-error fail fail-early fail-with-body location head include verbose
        compressed globoff no-buffer no-progress-meter progress-bar http1.0 http1.1 http2
        http2-prior-knowledge ipv4 ipv6 no-keepalive tcp-nodelay tr-encoding raw disable
        retry-all-errors retry-connrefused path-as-is ssl-reqd tlsv1 tlsv1.0 tlsv1.1
        tlsv1.2 tlsv1.3 styled-output trace-time suppress-connect-headers parallel
        parallel-immediate no-alpn no-npn no-sessionid ignore-content-length insecure
        disallow-username-in-url
        """
    )
)
_READ_ONLY_ANY_VALUE = frozenset(
    words(
        """
        max-time connect-timeout retry retry-delay retry-max-time max-redirs max-filesize
        limit-rate speed-limit speed-time keepalive-time expect100-timeout
        happy-eyeballs-timeout-ms parallel-max range user-agent referer tls-max ciphers
        tls13-ciphers curves
        """
    )
)
_HARMLESS_OUTPUTS = frozenset({"-", "/dev/null"})
_READ_METHODS = frozenset({"GET", "HEAD"})
_HTTP_URL = re.compile(r"https?://", re.IGNORECASE)


def is_http_url(text: str) -> bool:
    """Whether ``text`` names its scheme, and it is ``http`` or ``https``: what the
    session's proxy carries (curl and wget guess a scheme for a bare name, ``ftp.x``
    included, so a URL must say it)."""
    return _HTTP_URL.match(text) is not None


@dataclass(frozen=True, slots=True)
class CurlOption:
    """One option as curl reads it: its full long name, its value, and the argv index
    of the word it starts in and of the last word it used."""

    name: str
    value: str | None
    first: int
    last: int


@dataclass(slots=True)
class CurlArgs:
    """What curl makes of an argv: options, URLs (argv index, text), the first error."""

    options: list[CurlOption] = field(default_factory=list)
    urls: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None

    def named(self, *names: str) -> list[CurlOption]:
        return [option for option in self.options if option.name in names]


def resolve_long(word: str) -> tuple[str | None, str | None]:
    """(full name, None) for a long option word without its dashes, exact, an
    unambiguous prefix, or ``no-`` and a flag; else (None, why)."""
    if word in CURL_FLAGS or word in CURL_VALUES:
        return word, None
    matches = [name for name in _NAMES if name.startswith(word)]
    if len(matches) == 1:
        return matches[0], None
    if matches:
        return None, f"--{word} is ambiguous"
    if word.startswith("no-"):
        name, problem = resolve_long(word[3:])
        if name in CURL_FLAGS:
            return name, None
        return None, problem or f"--{word}: --no- only turns a flag off"
    return None, f"unknown option --{word}"


def read_curl_argv(argv: list[str]) -> CurlArgs:
    """Options and URLs of a curl argv, as curl reads them (indices into ``argv``)."""
    out = CurlArgs()
    options_end = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        if options_end or not arg.startswith("-"):
            out.urls.append((i, arg))
            i += 1
        elif arg == "--":
            options_end = True
            i += 1
        elif arg.startswith("--"):
            i = _long(argv, i, out)
        else:
            i = _cluster(argv, i, out)
        if out.error:
            return out
    return out


def _long(argv: list[str], i: int, out: CurlArgs) -> int:
    name, problem = resolve_long(argv[i][2:])
    if name is None:
        out.error = problem
        return i
    if name in CURL_VALUES:
        if i + 1 >= len(argv):
            out.error = f"--{name} needs a value"
            return i
        out.options.append(CurlOption(name, argv[i + 1], i, i + 1))
        _add_url_option(out)
        return i + 2
    out.options.append(CurlOption(name, None, i, i))
    return i + 1


def _cluster(argv: list[str], i: int, out: CurlArgs) -> int:
    letters = argv[i][1:]
    if not letters:
        out.error = "'-' is not an option"
        return i
    for pos, letter in enumerate(letters):
        name = CURL_SHORT.get(letter)
        if name is None:
            out.error = f"unknown option -{letter}"
            return i
        if name not in CURL_VALUES:
            out.options.append(CurlOption(name, None, i, i))
            continue
        rest = letters[pos + 1 :]
        if rest:
            out.options.append(CurlOption(name, rest, i, i))
            _add_url_option(out)
            return i + 1
        if i + 1 >= len(argv):
            out.error = f"-{letter} needs a value"
            return i
        out.options.append(CurlOption(name, argv[i + 1], i, i + 1))
        _add_url_option(out)
        return i + 2
    return i + 1


def _add_url_option(out: CurlArgs) -> None:
    """``--url URL`` names a URL as an operand does."""
    option = out.options[-1]
    if option.name == "url" and option.value is not None:
        out.urls.append((option.last, option.value))


def curl_route(parsed: CurlArgs) -> str | None:
    """The first option that tries to reach a host around the session's proxy, or
    another host than its URL names through it (a ``Host:`` header: domain fronting)."""
    for option in parsed.options:
        if option.name in CURL_ROUTES:
            return f"curl --{option.name} reaches hosts around the session's proxy"
        if option.name == "header" and fronting_header(option.value or ""):
            return f"curl -H {option.value!r} names another host than the URL's"
    return None


def fronting_header(value: str) -> bool:
    """A header that names the host itself (``Host:``), or smuggles more header lines:
    inside TLS the proxy sees neither, so an allowed host's front could serve another
    (domain fronting)."""
    return value.lower().lstrip().startswith("host:") or "\r" in value or "\n" in value


def curl_sent_file(parsed: CurlArgs) -> str | None:
    """The first option that reads a local file and sends what it holds (or reads
    options from one, which may say anything)."""
    for option in parsed.options:
        what = _sent_file(option.name, option.value or "")
        if what is not None:
            shown = f" {option.value}" if option.value is not None else ""
            return f"curl --{option.name}{shown} {what}"
    return None


_SENDS = "sends a local file"
_FILE_OPTIONS = {
    "config": "reads its options from a local file",
    "netrc": "sends the credentials of a netrc file",
    "netrc-optional": "sends the credentials of a netrc file",
    "netrc-file": "sends the credentials of a netrc file",
    "cert": "sends a client certificate (a local file)",
    "key": "signs with a local private key",
    "proxy-cert": "sends a client certificate (a local file)",
    "proxy-key": "signs with a local private key",
    "upload-file": _SENDS,
    "etag-compare": "sends the ETag a local file holds",
}


def _sent_file(name: str, value: str) -> str | None:
    if name in _FILE_OPTIONS:
        return _FILE_OPTIONS[name]
    if name in _DATA_AT_FILE | _HEADER_AT_FILE and value.startswith("@"):
        return _SENDS
    if name in _ENCODED_AT_FILE and "@" in value.split("=", 1)[0]:
        return _SENDS  # `@FILE` or `name@FILE`; `name=text@x` is text
    if name in _FORMS and any(c in value.partition("=")[2] for c in "@<"):
        return _SENDS  # `name=@FILE` uploads it, `name=<FILE` sends its content
    if name == "cookie" and "=" not in value:
        return "sends the cookies of a local file"  # no `=`: a cookie file's name
    return None


def curl_written_paths(argv: list[str]) -> list[tuple[str, str]]:
    """(path, how) for each file a curl argv writes: option values (``-o FILE``,
    ``-D FILE``, ``-c FILE``...) and, with ``-O``/``-J``, each URL's last path segment in
    ``--output-dir`` (or the working directory). An argv curl cannot read writes
    nothing (curl stops before any transfer)."""
    parsed = read_curl_argv(argv)
    if parsed.error:
        return []
    found = [
        (option.value, f"curl --{option.name}")
        for option in parsed.options
        if option.name in _WRITES_VALUE
        and option.value is not None
        and option.value not in ("-", "%")  # standard output, standard error
    ]
    for option in parsed.named("write-out"):  # curl 8.3: %output{FILE}, %output{>>FILE}
        found += [(path, "curl --write-out %output") for path in _OUTPUT_VARIABLE.findall(
            option.value or ""
        )]  # fmt: skip
    if parsed.named(*_REMOTE_NAMES):
        folders = [option.value or "." for option in parsed.named("output-dir")] or ["."]
        server = bool(parsed.named("remote-header-name"))
        for _, url in parsed.urls:
            for folder in folders:
                name = "*" if server else remote_name(url)
                found.append((posixpath.join(folder, name), "curl --remote-name"))
    return found


_OUTPUT_VARIABLE = re.compile(r"%output\{(?:>>)?([^}]*)\}", re.IGNORECASE)


def remote_name(url: str) -> str:
    """The file name a URL's download gets (curl ``-O``, wget): its path's last segment
    (``*`` when it has none)."""
    path = url.split("://", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1] if "/" in path else ""
    return name or "*"


def curl_server_names(parsed: CurlArgs) -> str | None:
    """``-J``: the server names the file curl writes (``.npmrc``, ``Makefile``...), which
    no check can judge before it runs."""
    if parsed.named("remote-header-name"):
        return "curl --remote-header-name writes a file the server names"
    return None


def curl_read_only_problem(argv: list[str]) -> str | None:
    """Why a curl argv is not a read-only fetch (GET or HEAD of literal http(s) URLs,
    the body to standard output), or None. Meant for sessions with an egress proxy."""
    parsed = read_curl_argv(argv)
    if parsed.error:
        return f"curl: {parsed.error}"
    for option in parsed.options:
        problem = _read_only_option(option)
        if problem:
            return problem
    for _, url in parsed.urls:
        if not is_http_url(url):
            return f"curl {url}: not an http:// or https:// URL"
    return None


def _read_only_option(option: CurlOption) -> str | None:
    name, value = option.name, option.value or ""
    shown = f"curl --{name} {value}".rstrip()
    if name in _READ_ONLY_FLAGS or name in _READ_ONLY_ANY_VALUE:
        return None
    if name == "output":
        return None if value in _HARMLESS_OUTPUTS else f"{shown} writes a file"
    if name == "header":
        if value.startswith("@"):
            return f"{shown} reads headers from a file"
        return f"{shown} names another host than the URL's" if fronting_header(value) else None
    if name == "write-out":
        if value.startswith("@"):
            return f"{shown} reads its format from a file"
        return f"{shown} writes a file" if "%output{" in value.lower() else None
    if name == "request":
        return None if value in _READ_METHODS else f"{shown} is not GET or HEAD"
    if name == "url":
        return None  # judged with the other URLs
    return f"{shown} is not a read-only fetch"
