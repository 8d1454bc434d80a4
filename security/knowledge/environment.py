"""Variables: which ones change what the shell or a program finds, loads, runs or writes.

Every variable a line sets (`security.checks.bindings` finds them, however they are set)
is judged by these tables, in this order:

- `IFS`: how words split (S14, deny).
- `COMMAND_LOOKUP`: how command names resolve (S15, ask).
- `LOADS_CODE` and `LOADS_CODE_PREFIXES`: the variable makes a program (or bash) load
  or run code, read another repository's or user's configuration, or write a file
  (S16, deny).
- `CHANGES_BEHAVIOUR` and `CHANGES_BEHAVIOUR_PREFIXES`: the variable changes what a
  program reads or how it parses its arguments, without loading code (S16, ask).
- `INERT`: the variable changes only how output looks, for a value its rule accepts;
  a value outside the rule (or unknown) asks.
- Anything else that reaches a program's environment asks (S40): a name nobody
  reviewed is not assumed inert. A plain shell variable (``x=1``, ``for f in ...``)
  that is not exported reaches no program and passes.

`TOOL_ENVIRONMENT` records the review behind these tables: for each tool of the
read-only knowledge base, the variables it reads (from its manual's ENVIRONMENT
section and the variable names its binary or script holds, checked in airlock/dev).
A test sets every reviewed variable on its tool and expects a refusal.

Decisions that needed a judgement (bash 5.2 manual, and runs in airlock/dev):
- ``LANG``/``LC_*``/``LANGUAGE`` are inert only as locale names: a ``/`` or ``..``
  makes them paths, and ``TEXTDOMAIN=t LANGUAGE=../../../workspace/l bash -c 'echo
  $"hello"'`` read a catalog from the workspace whose translation bash expanded
  (running its ``$(...)``). ``TEXTDOMAIN`` and ``TEXTDOMAINDIR`` always deny.
- ``TIMEFORMAT`` (a ``%`` format for ``time``) and ``FIGNORE`` (completion, which a
  non-interactive bash never does) are inert. ``MAIL*`` and ``TMOUT`` ask (an
  interactive bash reads them; ``TMOUT`` is read's default timeout).
- ``POSIXLY_CORRECT`` asks: bash enters POSIX mode and GNU tools read their options
  differently. ``GREP_OPTIONS`` is left to S40: grep 3.8 ignores it (checked).
- ``PS4`` denies: ``set -x`` expands it, command substitutions included.
- ``HOME`` and ``XDG_CONFIG_HOME`` deny: ``HOME=dir git status`` ran the fsmonitor
  of ``dir/.gitconfig``. ``GIT_*`` deny but for git's identity, ``GIT_PAGER=cat`` and
  ``GIT_OPTIONAL_LOCKS=0`` (``GIT_TEST_FSMONITOR`` and ``GIT_EXTERNAL_DIFF`` ran
  programs). ``RIPGREP_CONFIG_PATH``, ``GREP`` (zgrep) and ``AWKPATH`` ran programs.
- A name the line sets without exporting reaches no program, unless the session
  exports it already: names of `BASE_ENVIRONMENT` and of `READ_BY_TOOLS` count as
  exported wherever they are set.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from security.knowledge.spec import words

GIT_LOCKS = "GIT_OPTIONAL_LOCKS"  # the sandbox sets it to 0: git status then writes nothing
IFS = "IFS"


class SessionGuard(NamedTuple):
    """A variable the sandbox sets so that a read-only tool stays read-only."""

    value: str
    without: str  # what the tool does once the variable is changed or gone
    tools: frozenset[str]


# Every session starts with these (sandbox/hardening.py). A line that changes, unsets or
# empties one (`env -i`) is not proven read-only when it runs one of their tools (S16).
SESSION_GUARDS: dict[str, SessionGuard] = {
    GIT_LOCKS: SessionGuard("0", "git then writes its index", frozenset({"git"})),
    "GOTOOLCHAIN": SessionGuard(
        "local", "go then runs, or downloads, the toolchain go.mod names", frozenset({"go"})
    ),
    "PIP_DISABLE_PIP_VERSION_CHECK": SessionGuard(
        "1",
        "pip then asks PyPI for its latest version and writes its cache",
        frozenset({"pip", "pip3"}),
    ),
    "npm_config_update_notifier": SessionGuard(
        "false", "npm then asks the registry for its latest version", frozenset({"npm"})
    ),
    "npm_config_logs_max": SessionGuard(
        "0", "npm then writes a debug log file", frozenset({"npm"})
    ),  # npm ranks its environment above a project .npmrc
}

# S15: how a command name becomes a program.
COMMAND_LOOKUP: dict[str, str] = {
    "PATH": "the directories searched for commands",
    "CDPATH": "the directories cd searches (cd x may then leave the workspace)",
    "EXECIGNORE": "which programs PATH lookup skips, so another one runs",
    "BASH_LOADABLES_PATH": "where enable -f finds builtins (shared libraries)",
    "FPATH": "zsh's function search path",
    "fpath": "zsh's function search path",
    "path": "zsh's PATH array",
    "module_path": "zsh's module search path",
}

# S16, deny: loading or running code, another configuration, or writing files.
LOADS_CODE: dict[str, str] = {
    # bash itself
    "BASH_ENV": "bash runs this file when it starts",
    "ENV": "sh and bash --posix run this file when interactive",
    "PROMPT_COMMAND": "run before each prompt",
    "PS0": "prompt expansion runs its command substitutions",
    "PS1": "prompt expansion runs its command substitutions",
    "PS2": "prompt expansion runs its command substitutions",
    "PS3": "select's prompt",
    "PS4": "set -x expands it (and its command substitutions) before each command",
    "SHELLOPTS": "options a child bash starts with (xtrace, allexport, ...)",
    "BASHOPTS": "shopt options a child bash starts with",
    "BASH_XTRACEFD": "set -x writes its trace to this descriptor",
    "BASH_COMPAT": "changes how bash parses and expands",
    "TEXTDOMAIN": 'the catalog $"..." strings are translated from; bash expands the translation',
    "TEXTDOMAINDIR": 'where $"..." translations are read; bash expands the translation',
    "HISTFILE": "the file history is written to",
    "HISTFILESIZE": "assigning it truncates the history file ($HISTFILE, else ~/.history)",
    "INPUTRC": "readline's init file (read -e, bind)",
    "ZDOTDIR": "where zsh reads its startup files",
    "HOME": "tilde expansion and every tool's user configuration (~/.gitconfig, ~/.jq, ...)",
    "XDG_CONFIG_HOME": "user configuration of git, rg and others",
    "TMPDIR": "where bash writes here-documents and sort its temporary files",
    # the C library and the dynamic loader (every program)
    "GCONV_PATH": "iconv loads character-set modules (shared libraries) from here",
    "GLIBC_TUNABLES": "tunes the dynamic loader and malloc",
    "LOCPATH": "locale data read from this directory",
    "NLSPATH": "message catalogs read from this path",
    "MALLOC_TRACE": "mtrace writes its log to this file",
    "GETCONF_DIR": "getconf runs programs from this directory",
    # programs of the read-only knowledge base
    "RIPGREP_CONFIG_PATH": "rg reads flags (--pre runs a program) from this file",
    "GREP": "the program zgrep runs as grep",
    "AWKPATH": "where gawk finds -f and @include programs",
    "AWKLIBPATH": "where gawk finds -l and @load extensions (shared libraries)",
    "GAWK_PERSIST_FILE": "gawk keeps its heap in this file (writes it)",
    "JQ_LIBRARY_PATH": "where jq finds modules",
    "TERMINFO": "terminal descriptions read from here",
    "TERMINFO_DIRS": "terminal descriptions read from here",
    "TERMCAP": "a terminal description, or the file holding it",
    "TAR_OPTIONS": "options tar adds (--to-command runs a program)",
    # pagers, editors and helpers programs start
    "PAGER": "the pager git and man run",
    "GIT_PAGER": "the pager git runs",
    "MANPAGER": "the pager man runs",
    "SYSTEMD_PAGER": "the pager systemd tools run",
    "LESSOPEN": "less runs this input preprocessor",
    "LESSCLOSE": "less runs this postprocessor",
    "LESSKEYIN": "less's key bindings file",
    "LESSKEY": "less's key bindings file",
    "LESSEDIT": "the editor command less runs",
    "EDITOR": "the editor programs start",
    "VISUAL": "the editor programs start",
    "SUDO_EDITOR": "the editor sudoedit starts",
    "BROWSER": "the browser programs start",
    "MANOPT": "man's options",
    "SSH_ASKPASS": "a program that asks for passwords",
    "SUDO_ASKPASS": "a program that asks for passwords",
    # interpreters
    "PYTHONSTARTUP": "python runs this file",
    "PYTHONPATH": "python imports modules from here",
    "PYTHONHOME": "python's standard library location",
    "PYTHONUSERBASE": "python's user site-packages",
    "PYTHONINSPECT": "python stays interactive",
    "PYTHONBREAKPOINT": "python calls this on breakpoint()",
    "PYTHONWARNINGS": "python imports warning categories by name",
    "NODE_OPTIONS": "node's options (--require loads code)",
    "NODE_PATH": "node resolves modules from here",
    "NODE_REPL_EXTERNAL_MODULE": "node loads this module as its REPL",
    "PERL5OPT": "perl's options (-M loads modules); shasum is a perl script",
    "PERL5LIB": "perl loads modules from here",
    "PERLLIB": "perl loads modules from here",
    "PERL5DB": "perl's debugger code",
    "RUBYOPT": "ruby's options",
    "RUBYLIB": "ruby loads libraries from here",
    "JAVA_TOOL_OPTIONS": "the JVM's options (-javaagent loads code)",
    "_JAVA_OPTIONS": "the JVM's options",
    "JDK_JAVA_OPTIONS": "the java launcher's options",
    "DOTNET_STARTUP_HOOKS": ".NET loads these assemblies",
    "LUA_INIT": "lua runs this code",
    "LUA_PATH": "lua loads modules from here",
    "LUA_CPATH": "lua loads C modules from here",
    "TCLLIBPATH": "tcl loads packages from here",
    # build tools and network helpers
    "MAKEFLAGS": "make's options",
    "MFLAGS": "make's options",
    "CARGO_BUILD_RUSTC_WRAPPER": "cargo runs rustc through this program",
    "RUSTC_WRAPPER": "cargo runs rustc through this program",
    "CC": "the C compiler builds run",
    "CXX": "the C++ compiler builds run",
    "LD": "the linker builds run",
    "NPM_CONFIG_SCRIPT_SHELL": "the shell npm runs scripts with",
    "npm_config_script_shell": "the shell npm runs scripts with",
    "OPENSSL_CONF": "OpenSSL's configuration (can load engines)",
    "OPENSSL_ENGINES": "where OpenSSL loads engines from",
    "CURL_HOME": "curl's configuration",
    "WGETRC": "wget's configuration",
    "SYSTEM_WGETRC": "wget's system configuration",
    "WGET_ASKPASS": "the program wget runs for credentials",
    "SSLKEYLOGFILE": "curl, wget and other TLS clients write session keys to this file",
    "QLOGDIR": "curl writes HTTP/3 qlog files into this folder",
    "HOSTALIASES": "host name aliases the resolver reads",
    "RESOLV_HOST_CONF": "the resolver's configuration",
}
LOADS_CODE_PREFIXES: tuple[str, ...] = (
    "LD_",  # the dynamic loader: LD_PRELOAD, LD_AUDIT, LD_DEBUG_OUTPUT (writes), ...
    "DYLD_",
    "BASH_FUNC_",  # exported functions a child bash defines
    # every git variable not in INERT: repository, index, object store, config, programs
    # (GIT_DIR, GIT_INDEX_FILE, GIT_TEST_FSMONITOR, GIT_EXTERNAL_DIFF, GIT_TRACE*=file ...)
    "GIT_",
)

# S16, ask: what a program reads or how it reads its arguments, no code loaded.
CHANGES_BEHAVIOUR: dict[str, str] = {
    "POSIXLY_CORRECT": "bash's POSIX mode, and GNU tools parse options differently",
    "LESS": "less's options (a +command among them); less pages only on a terminal",
    "GLOBIGNORE": "which files globs match (and it turns on dotglob)",
    "TZDIR": "time zone files read from this directory",
    "DATEMSK": "getdate's template file",
    "RES_OPTIONS": "resolver options",
    "LOCALDOMAIN": "the resolver's search list",
    "MAIL": "the mailbox an interactive bash checks",
    "MAILPATH": "mailboxes an interactive bash checks",
    "MAILCHECK": "how often an interactive bash checks mail",
    "TMOUT": "read's default timeout, and an interactive bash's idle exit",
    "GZIP": "gzip's options (zcat and zgrep run gzip)",
    "XZ_OPT": "xz's options",
    "XZ_DEFAULTS": "xz's options",
    "BZIP": "bzip2's options",
    "BZIP2": "bzip2's options",
    "ZSTD_CLEVEL": "zstd's options",
    "MAGIC": "the magic file file(1) reads",
    "_STDBUF_I": "stdbuf's buffering, read by the library it preloads",
    "_STDBUF_O": "stdbuf's buffering, read by the library it preloads",
    "_STDBUF_E": "stdbuf's buffering, read by the library it preloads",
    "AWKBUFSIZE": "gawk's input buffer size",
    "AWKREADFUNC": "gawk reads input line by line",
    "WHINY_USERS": "mawk and gawk sort arrays",
    "MAWKBINMODE": "mawk's binary mode",
    "PS_FORMAT": "ps's default output format",
    "PS_PERSONALITY": "ps's option parsing",
    "CMD_ENV": "ps's option parsing",
    "I_WANT_A_BROKEN_PS": "ps's option parsing",
    "GNUPGHOME": "gpg's home, which git runs to verify signatures",
    "SSH_AUTH_SOCK": "the ssh agent programs talk to",
    "DOCKER_HOST": "the engine docker talks to",
    "DOCKER_CONFIG": "docker's configuration",
    "XDG_CACHE_HOME": "where git and others keep caches",
    "XDG_DATA_HOME": "where programs keep data",
    "XDG_RUNTIME_DIR": "where programs keep sockets",
    "SSL_CERT_FILE": "trusted certificates",
    "SSL_CERT_DIR": "trusted certificates",
    "CURL_CA_BUNDLE": "trusted certificates",
    "REQUESTS_CA_BUNDLE": "trusted certificates",
    "http_proxy": "where network traffic goes",
    "https_proxy": "where network traffic goes",
    "all_proxy": "where network traffic goes",
    "no_proxy": "where network traffic goes",
    "HTTP_PROXY": "where network traffic goes",
    "HTTPS_PROXY": "where network traffic goes",
    "ALL_PROXY": "where network traffic goes",
    "NO_PROXY": "where network traffic goes",
    "ftp_proxy": "where network traffic goes",
    "FTP_PROXY": "where network traffic goes",
    "PRE_PROXY": "where network traffic goes (curl's SOCKS proxy before the proxy)",
    "CURL_SSL_BACKEND": "the TLS library curl uses",
}
CHANGES_BEHAVIOUR_PREFIXES: tuple[str, ...] = (
    "GAWK_",  # read timeouts, socket retries, locale dir, stack size
    "NPM_CONFIG_",  # npm reads any configuration key this way
    "npm_config_",
    "PIP_",  # pip reads any option this way (PIP_INDEX_URL, PIP_CONFIG_FILE, ...)
)

# Inert: only how output looks. Each maps to the values it may take (a full match of
# the literal value); `ANY_VALUE` also accepts a value computed at run time.
ANY_VALUE = re.compile(r"(?s:.*)")
_LOCALE = re.compile(r"[A-Za-z0-9_.@+-]*")  # no '/': a locale name, never a path
_SAFE_PAGER = re.compile(r"cat|")
INERT: dict[str, re.Pattern[str]] = {
    **{
        name: _LOCALE
        for name in words(
            """
            LANG LC_ALL LC_COLLATE LC_CTYPE LC_MESSAGES LC_NUMERIC LC_TIME LC_MONETARY
            LC_PAPER LC_NAME LC_ADDRESS LC_TELEPHONE LC_MEASUREMENT LC_IDENTIFICATION
            """
        )
    },
    "LANGUAGE": re.compile(r"[A-Za-z0-9_.@+:-]*"),
    "TZ": re.compile(r":?[A-Za-z0-9_+,.<>-]+(/[A-Za-z0-9_+,.<>-]+)*"),
    "COLUMNS": re.compile(r"\d{1,5}"),
    "LINES": re.compile(r"\d{1,5}"),
    "TERM": re.compile(r"[A-Za-z0-9._+-]*"),
    "NO_COLOR": re.compile(r"[A-Za-z0-9]*"),
    "CLICOLOR": re.compile(r"[A-Za-z0-9]*"),
    "CLICOLOR_FORCE": re.compile(r"[A-Za-z0-9]*"),
    "FORCE_COLOR": re.compile(r"[A-Za-z0-9]*"),
    "LS_COLORS": re.compile(r"[A-Za-z0-9=;:*._~-]*"),
    "GREP_COLOR": re.compile(r"[0-9;]*"),
    "GREP_COLORS": re.compile(r"[a-z0-9=;:]*"),
    "JQ_COLORS": re.compile(r"[0-9;:]*"),
    "TIME_STYLE": re.compile(r"[^\n]*"),
    "QUOTING_STYLE": re.compile(r"[a-z-]*"),
    "TABSIZE": re.compile(r"\d{1,4}"),
    **{
        name: re.compile(r"'?[0-9A-Za-z]*")
        for name in ("BLOCK_SIZE", "BLOCKSIZE", "LS_BLOCK_SIZE", "DU_BLOCK_SIZE", "DF_BLOCK_SIZE")
    },
    "TIMEFORMAT": re.compile(r"[^\n]*"),  # the time keyword's %-format, never expanded
    "FIGNORE": ANY_VALUE,  # completion only: a non-interactive bash never reads it
    "OMP_NUM_THREADS": re.compile(r"\d{1,4}"),
    "OMP_THREAD_LIMIT": re.compile(r"\d{1,4}"),
    **{name: re.compile(re.escape(guard.value)) for name, guard in SESSION_GUARDS.items()},
    "GIT_TERMINAL_PROMPT": re.compile(r"0|false"),
    "GIT_PAGER": _SAFE_PAGER,
    "PAGER": _SAFE_PAGER,
    "MANPAGER": _SAFE_PAGER,
    # git's identity for commits it would make: read-only git never writes one
    **{
        f"GIT_{who}_{what}": ANY_VALUE
        for who in ("AUTHOR", "COMMITTER")
        for what in ("NAME", "EMAIL", "DATE")
    },
    # the session's own environment, which cd and bash keep up to date
    "PWD": ANY_VALUE,
    "OLDPWD": ANY_VALUE,
    "SHLVL": ANY_VALUE,
    "HOSTNAME": ANY_VALUE,
    "_": ANY_VALUE,
}
# Pagers a person may read through: they ask rather than deny (git starts them only on
# a terminal, which the sandbox does not give it).
READING_PAGERS = frozenset({"less", "more"})

# Names in the session's environment when a line starts (the image, the sandbox and
# the exec agent): assigning one changes what every program after it sees.
BASE_ENVIRONMENT = frozenset(
    {"PATH", "HOME", "LANG", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_", *SESSION_GUARDS}
    | {"AIRLOCK_AGENT", "AIRLOCK_TTL"}
)

# Variables the C library reads in every program (glibc 2.36, bookworm), besides LD_*.
GLIBC_ENVIRONMENT = tuple(
    words(
        """
        GCONV_PATH GETCONF_DIR GLIBC_TUNABLES HOME HOSTALIASES LANG LANGUAGE LC_ALL LC_COLLATE
        LC_CTYPE LC_MESSAGES LC_MONETARY LC_NUMERIC LC_TIME LOCALDOMAIN LOCPATH MALLOC_TRACE
        NLSPATH POSIXLY_CORRECT RES_OPTIONS RESOLV_HOST_CONF TMPDIR TZ TZDIR DATEMSK
        """
    )
)

_COREUTILS_LS = "LS_COLORS LS_BLOCK_SIZE BLOCK_SIZE BLOCKSIZE TIME_STYLE TABSIZE COLUMNS"
_GIT = (
    "GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES "
    "GIT_COMMON_DIR GIT_NAMESPACE GIT_CEILING_DIRECTORIES GIT_DISCOVERY_ACROSS_FILESYSTEM "
    "GIT_CONFIG GIT_CONFIG_GLOBAL GIT_CONFIG_SYSTEM GIT_CONFIG_NOSYSTEM GIT_CONFIG_PARAMETERS "
    "GIT_CONFIG_COUNT GIT_ATTR_SOURCE GIT_ATTR_NOSYSTEM GIT_REPLACE_REF_BASE "
    "GIT_NO_REPLACE_OBJECTS GIT_GRAFT_FILE GIT_SHALLOW_FILE GIT_EXEC_PATH GIT_TEMPLATE_DIR "
    "GIT_EDITOR GIT_SEQUENCE_EDITOR GIT_PAGER GIT_EXTERNAL_DIFF GIT_DIFF_OPTS GIT_SSH "
    "GIT_SSH_COMMAND GIT_ASKPASS GIT_PROXY_COMMAND GIT_TRACE GIT_TRACE2 GIT_TRACE2_EVENT "
    "GIT_TRACE2_PERF GIT_TRACE_PACKET GIT_TRACE_PERFORMANCE GIT_TRACE_SETUP GIT_TRACE_FSMONITOR "
    "GIT_TEST_FSMONITOR GIT_TEST_SPARSE_INDEX GIT_OPTIONAL_LOCKS GIT_TERMINAL_PROMPT "
    "GIT_REDIRECT_STDIN GIT_REDIRECT_STDOUT GIT_REDIRECT_STDERR GIT_NOTES_REF "
    "GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_AUTHOR_DATE GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL "
    "GIT_COMMITTER_DATE GIT_MAN_VIEWER GIT_ALLOW_PROTOCOL GIT_PROTOCOL_FROM_USER "
    "HOME XDG_CONFIG_HOME XDG_CACHE_HOME EDITOR VISUAL PAGER LESS TERM COLUMNS TMPDIR "
    "SSH_ASKPASS GNUPGHOME EMAIL"
)

# The review: each read-only tool and the variables it reads besides GLIBC_ENVIRONMENT.
_PIP = (
    "PIP_CONFIG_FILE PIP_LOG PIP_LOG_FILE PIP_CACHE_DIR PIP_NO_CACHE_DIR PIP_INDEX_URL "
    "PIP_REQUIRE_VIRTUALENV PIP_DISABLE_PIP_VERSION_CHECK PYTHONPATH PYTHONHOME "
    "PYTHONUSERBASE PYTHONNOUSERSITE VIRTUAL_ENV HOME XDG_CONFIG_HOME XDG_CACHE_HOME"
)
TOOL_ENVIRONMENT: dict[str, tuple[str, ...]] = {
    name: tuple(words(variables))
    for name, variables in {
        # bash builtins and keywords: bash's own variables
        ":": "",
        "true": "",
        "false": "",
        "echo": "POSIXLY_CORRECT",
        "printf": "POSIXLY_CORRECT",
        "test": "",
        "[": "",
        "read": "IFS TMOUT INPUTRC",
        "cd": "CDPATH HOME OLDPWD PWD",
        "pushd": "CDPATH HOME OLDPWD PWD",
        "popd": "OLDPWD PWD",
        "dirs": "HOME",
        "type": "PATH EXECIGNORE",
        "command": "PATH EXECIGNORE",
        "builtin": "",
        "exec": "PATH EXECIGNORE",
        "time": "TIMEFORMAT",
        "wait": "",
        "pwd": "PWD",
        # coreutils
        "cat": "",
        "ls": _COREUTILS_LS + " QUOTING_STYLE",
        "dir": _COREUTILS_LS + " QUOTING_STYLE",
        "vdir": _COREUTILS_LS + " QUOTING_STYLE",
        "basename": "",
        "dirname": "",
        "realpath": "",
        "readlink": "",
        "wc": "",
        "nl": "",
        "od": "",
        "md5sum": "",
        "sha1sum": "",
        "sha224sum": "",
        "sha256sum": "",
        "sha384sum": "",
        "sha512sum": "",
        "b2sum": "",
        "cksum": "BLOCK_SIZE",
        "sum": "BLOCK_SIZE",
        "fold": "",
        "fmt": "",
        "paste": "",
        "join": "",
        "expand": "",
        "unexpand": "",
        "tac": "TMPDIR",
        "seq": "",
        "uname": "",
        "nproc": "OMP_NUM_THREADS OMP_THREAD_LIMIT",
        "cut": "",
        "rev": "",
        "tr": "",
        "comm": "",
        "stat": "QUOTING_STYLE",
        "du": "DU_BLOCK_SIZE BLOCK_SIZE BLOCKSIZE TIME_STYLE",
        "df": "DF_BLOCK_SIZE BLOCK_SIZE BLOCKSIZE",
        "head": "",
        "tail": "",
        "sort": "TMPDIR OMP_NUM_THREADS",
        "uniq": "",
        "tsort": "",
        "numfmt": "",
        "pr": "",
        "ptx": "",
        "factor": "",
        "yes": "",
        "break": "",
        "continue": "",
        "expr": "",
        "sleep": "",
        "date": "TZ",
        "id": "",
        "groups": "",
        "whoami": "",
        "logname": "",
        "users": "",
        "who": "",
        "tty": "",
        "arch": "",
        "base32": "",
        "base64": "",
        "basenc": "",
        "printenv": "",
        "timeout": "PATH",
        "nice": "PATH",
        "stdbuf": "PATH _STDBUF_I _STDBUF_O _STDBUF_E LD_PRELOAD",
        "env": "PATH",
        # findutils, grep, sed, awk, diff
        "find": "PATH TZ POSIXLY_CORRECT",
        "xargs": "PATH POSIXLY_CORRECT",
        "grep": "GREP_COLOR GREP_COLORS TERM",
        "egrep": "PATH GREP_COLOR GREP_COLORS TERM",
        "fgrep": "PATH GREP_COLOR GREP_COLORS TERM",
        "zgrep": "GREP GZIP PATH TMPDIR POSIXLY_CORRECT",
        "zcat": "GZIP PATH",
        "bzcat": "BZIP BZIP2",
        "xzcat": "XZ_OPT XZ_DEFAULTS",
        "sed": "POSIXLY_CORRECT COLS",
        "awk": "AWKPATH AWKLIBPATH GAWK_PERSIST_FILE GAWK_READ_TIMEOUT POSIXLY_CORRECT",
        "gawk": "AWKPATH AWKLIBPATH GAWK_PERSIST_FILE GAWK_READ_TIMEOUT GAWK_SOCK_RETRIES "
        "GAWK_STACKSIZE GAWK_LOCALE_DIR AWKBUFSIZE AWKREADFUNC POSIXLY_CORRECT WHINY_USERS",
        "mawk": "MAWKBINMODE WHINY_USERS",
        "diff": "TMPDIR",
        "diff3": "TMPDIR",
        "sdiff": "EDITOR VISUAL TMPDIR",
        "cmp": "",
        # procps, util-linux and others
        "ps": "PS_FORMAT PS_PERSONALITY CMD_ENV I_WANT_A_BROKEN_PS COLUMNS LINES",
        "pgrep": "",
        "pidof": "PIDOF_NETFS",
        "free": "",
        "uptime": "",
        "w": "COLUMNS PROCPS_USERLEN PROCPS_FROMLEN",
        "last": "",
        "lscpu": "LSCPU_DEBUG",
        "lsblk": "LSBLK_DEBUG LIBMOUNT_FSTAB LIBMOUNT_MTAB",
        "lsmem": "LSMEM_DEBUG",
        "lsns": "LSNS_DEBUG",
        "whereis": "WHEREIS_DEBUG MANPATH PATH",
        "which": "PATH IFS",
        "hostname": "",
        "getconf": "GETCONF_DIR",
        "locale": "LOCPATH",
        "tput": "TERM TERMINFO TERMINFO_DIRS TERMCAP COLUMNS LINES",
        "cal": "TZ",
        "ncal": "TZ",
        "look": "WORDLIST",
        "lsof": "LSOF_DEBUG",
        "column": "COLUMNS",
        "hexdump": "",
        "xxd": "",
        "strings": "",
        "file": "MAGIC POSIXLY_CORRECT",
        "tree": "LS_COLORS TREE_COLORS TREE_CHARSET COLUMNS",
        "shasum": "PERL5OPT PERL5LIB PERLLIB PERL5DB",
        "md5": "",
        "jq": "HOME JQ_COLORS JQ_LIBRARY_PATH",
        "rg": "RIPGREP_CONFIG_PATH HOME XDG_CONFIG_HOME NO_COLOR TERM",
        "iconv": "GCONV_PATH",
        "fd": "LS_COLORS NO_COLOR XDG_CONFIG_HOME HOME",
        "fdfind": "LS_COLORS NO_COLOR XDG_CONFIG_HOME HOME",
        # nawk is an alternatives link to mawk or gawk: both tables
        "nawk": "AWKPATH AWKLIBPATH GAWK_PERSIST_FILE GAWK_READ_TIMEOUT POSIXLY_CORRECT "
        "MAWKBINMODE WHINY_USERS",
        # pip reads every PIP_<OPTION> (PIP_LOG writes a log file, PIP_CONFIG_FILE loads
        # a config that may set any option) and runs under the interpreter's variables;
        # S40 refuses any variable outside the inert list, so the prefix is covered too
        "pip": _PIP,
        "pip3": _PIP,
        "npm": "npm_config_update_notifier npm_config_logs_max npm_config_userconfig "
        "npm_config_globalconfig npm_config_prefix NODE_OPTIONS NODE_PATH HOME XDG_CONFIG_HOME",
        "go": "GOTOOLCHAIN GOENV GOFLAGS GOROOT GOPATH GOBIN GOCACHE GOMODCACHE GOPROXY GOWORK "
        "GOEXPERIMENT GOOS GOARCH CGO_ENABLED CC HOME XDG_CONFIG_HOME",
        "git": _GIT,
        # the fetchers proven read-only with an egress proxy (knowledge/readonly.py
        # EGRESS_READ_ONLY): curl 7.88.1 and libcurl's strings, wget 1.21.3's
        "curl": "CURL_HOME XDG_CONFIG_HOME HOME http_proxy https_proxy HTTPS_PROXY ALL_PROXY "
        "all_proxy NO_PROXY no_proxy PRE_PROXY CURL_CA_BUNDLE SSL_CERT_DIR SSL_CERT_FILE "
        "SSLKEYLOGFILE CURL_SSL_BACKEND QLOGDIR COLUMNS",
        "wget": "WGETRC SYSTEM_WGETRC HOME http_proxy https_proxy ftp_proxy no_proxy "
        "WGET_ASKPASS SSH_ASKPASS",
    }.items()
}


def inert_value(name: str, value: str | None) -> bool:
    """Whether ``name`` set to ``value`` (None: computed at run time) only changes looks."""
    rule = INERT.get(name)
    if rule is None:
        return False
    if rule is ANY_VALUE:
        return True
    return value is not None and ".." not in value and rule.fullmatch(value) is not None


class Judgement(NamedTuple):
    """What setting one variable to one value means, and which check reports it."""

    kind: str  # "ifs" (S14), "lookup" (S15), "code", "pager", "locks", "behaviour" (S16),
    #            "not-inert" (S40)
    reason: str


def judge_variable(name: str, value: str | None, exported: bool) -> Judgement | None:
    """How setting ``name`` to ``value`` (None: unknown) is judged; None when harmless.

    ``exported``: the value reaches the environment of the programs that follow.
    """
    if inert_value(name, value):
        return None
    if name == IFS:
        return Judgement("ifs", "how words split")
    if name in COMMAND_LOOKUP:
        return Judgement("lookup", COMMAND_LOOKUP[name])
    if name in SESSION_GUARDS:
        return Judgement("locks", SESSION_GUARDS[name].without)
    if name in _PAGERS and value is not None and value.strip() in READING_PAGERS:
        return Judgement("pager", f"{value} is a pager a person reads through")
    reason = LOADS_CODE.get(name)
    if reason is None and name.startswith(LOADS_CODE_PREFIXES) and INERT.get(name) is None:
        reason = "read by git or the dynamic loader (see knowledge/environment.py)"
        if name.startswith("BASH_FUNC_"):
            reason = "a function a child bash defines"
    if reason is not None:
        return Judgement("code", reason)
    reason = CHANGES_BEHAVIOUR.get(name)
    if reason is None and name.startswith(CHANGES_BEHAVIOUR_PREFIXES):
        reason = "read as configuration by the program it is named after"
    if reason is None and name in LOCALE_VARIABLES:
        reason = "a locale name that is not one: locale data and message catalogs are read by it"
    if reason is not None:
        return Judgement("behaviour", reason)
    if exported:
        return Judgement("not-inert", "not known to be inert for the programs that read it")
    return None


_PAGERS = frozenset({"PAGER", "GIT_PAGER", "MANPAGER", "SYSTEMD_PAGER"})
LOCALE_VARIABLES = frozenset(name for name, rule in INERT.items() if rule is _LOCALE) | {"LANGUAGE"}


# Variables bash itself gives the integer attribute (`declare -p` in bash 5.2): every
# value assigned to one, however (read, for, mapfile, NAME=), is evaluated as arithmetic.
BASH_INTEGER_VARIABLES = frozenset(
    {"OPTIND", "RANDOM", "SRANDOM", "HISTCMD", "BASHPID", "UID", "EUID", "PPID"}
)

# Every variable a read-only tool was found to read. A shell variable of one of these
# names is judged as if exported: the session's environment (an operator's settings
# included) may already export it, and assigning it then changes what the tool sees.
READ_BY_TOOLS = frozenset(GLIBC_ENVIRONMENT).union(*TOOL_ENVIRONMENT.values())
