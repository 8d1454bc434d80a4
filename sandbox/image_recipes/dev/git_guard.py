#!/usr/bin/python3 -IS
"""The `git` of airlock/dev: runs the real git so that no configured program can run.

A hostile repository's configuration is a program launcher: ``core.fsmonitor`` runs on
`git status`, ``diff.<driver>.textconv`` on `git log -p`, ``filter.<driver>.smudge`` on
`git cat-file --filters`, hooks on anything that writes the index. This guard is installed
as every path by which a command named `git` runs (/usr/bin/git, /usr/lib/git-core/git and
the git-<builtin> links). For each invocation it:

1. parses git's global options (an unknown one is refused);
2. asks the real git, with the same options, environment and working directory, for the
   configuration it would see (``config --list -z --show-scope --show-origin``, includes
   resolved);
3. classifies every key: known inert keys pass, program-running keys get a neutral value,
   any other key refuses the invocation (exit 128, naming the key and its origin);
4. runs the real git with the neutral values as command-scope configuration (the highest
   precedence), hooks pointed at an empty directory, and the environment variables that
   load programs or write trace files dropped or overridden.

Subprocesses of the real git that are git again (submodules, `git-upload-pack` of a local
clone, scripts) come back through this guard, each judged against its own repository.

The same file serves two helpers, chosen by the name it is run as: ``external-diff`` (the
neutral value of ``diff.external`` and ``diff.<driver>.command``: git's own diff of the two
files) and ``merge-driver`` (the neutral value of ``merge.<driver>.driver``: git's own
three-way file merge).

Standard library only; run as ``python3 -I -S`` (the interpreter line), so no environment
variable or file in the working directory changes how Python itself starts.
"""

# os.path, not pathlib: importing pathlib would slow every git command down.
# ruff: noqa: PTH110, PTH112, PTH118, PTH119
from __future__ import annotations

import os
import sys

# Imports are kept to builtin modules: every git command pays for this file's start-up
# (subprocess, dataclasses and typing would add tens of milliseconds).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

GUARD_DIR = "/usr/lib/airlock/git-guard"
REAL_GIT = f"{GUARD_DIR}/git.real"
NO_HOOKS = f"{GUARD_DIR}/no-hooks"  # an empty, root-owned directory
EXTERNAL_DIFF = f"{GUARD_DIR}/external-diff"
MERGE_DRIVER = f"{GUARD_DIR}/merge-driver"
# The neutral value of a key that names a program: a path that cannot exist (a read-only
# root directory's child), so git's attempt to start it fails with ENOENT and nothing runs.
DISABLED = f"{GUARD_DIR}/disabled/program-disabled-by-airlock"
IDENTITY_FILTER = "/usr/bin/cat"
EXEC_PATH = "/usr/lib/git-core"
TEMPLATE_DIR = "/usr/share/git-core/templates"
FATAL = 128
NAME = "git (airlock guard)"


class Refusal(Exception):
    """The invocation is not run; the message says why."""


# --- configuration keys -----------------------------------------------------------------


class ConfigEntry:
    """One line of the effective configuration, as `git config --list` reports it."""

    __slots__ = ("key", "origin", "scope", "value")

    def __init__(self, scope: str, origin: str, key: str, value: str | None) -> None:
        self.scope = scope
        self.origin = origin
        self.key = key  # canonical: section and name lower case, subsection as written
        self.value = value  # None: a key given without `=` (boolean true)

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    @property
    def subsection(self) -> str | None:
        """The middle part of ``section.subsection.name``; None for a two-part key."""
        first, last = self.key.find("."), self.key.rfind(".")
        return self.key[first + 1 : last] if first != last else None


# Sections where every key, with or without a subsection, is data that no git command of
# 2.39 turns into a program run, a write outside what the command itself does, or a
# network connection of its own.
INERT_SECTIONS = frozenset(
    {
        "advice", "am", "apply", "author", "blame", "branch", "checkout", "clean", "clone",
        "color", "column", "commitgraph", "committer", "completion", "extensions",
        "fastimport", "feature", "fetch", "format", "fsck", "fsmonitor", "gc", "gitcvs",
        "gitweb", "grep", "gui", "i18n", "include", "includeif", "index", "lsrefs",
        "mailinfo", "mailmap", "maintenance", "notes", "pack", "pretty", "pull", "rebase",
        "receive", "remotes", "repack", "rerere", "revert", "safe", "showbranch", "sparse",
        "splitindex", "ssh", "stash", "status", "trace2", "transfer", "uploadarchive",
        "uploadpackfilter", "url", "user", "versionsort", "worktree", "credentialcache",
        "credentialstore", "bundle", "scalar",
        # third-party tools that keep settings in git's config; git itself never reads them
        # and none of these tools is in the image
        "lfs", "gitflow", "hub", "github", "gitlab", "gitea", "ghq", "delta", "gerrit",
        "gitreview", "git-town", "absorb", "branchless", "diff-so-fancy",
    }
)  # fmt: skip
# trace2.*: its targets are switched off through the environment (GIT_TRACE2*=0), which
# takes precedence over the configuration. ssh.variant: ssh is never allowed (protocol).

# Two-part keys ``section.name`` known to be inert, for sections that also hold
# program-running keys.
INERT_KEYS = frozenset(
    {
        # core
        "core.abbrev", "core.alternaterefsprefixes", "core.attributesfile", "core.autocrlf",
        "core.bare", "core.bigfilethreshold", "core.checkroundtripencoding", "core.checkstat",
        "core.commentchar", "core.commitgraph", "core.compression", "core.createobject",
        "core.deltabasecachelimit", "core.eol", "core.excludesfile", "core.filemode",
        "core.filesreflocktimeout", "core.fsmonitorhookversion", "core.fsync",
        "core.fsyncmethod", "core.fsyncobjectfiles", "core.hidedotfiles", "core.ignorecase",
        "core.ignorestat", "core.logallrefupdates", "core.loosecompression",
        "core.multipackindex", "core.notesref", "core.packedgitlimit",
        "core.packedgitwindowsize", "core.packedrefstimeout", "core.precomposeunicode",
        "core.prefersymlinkrefs", "core.preloadindex", "core.protecthfs", "core.protectntfs",
        "core.quotepath", "core.repositoryformatversion", "core.restrictinheritedhandles",
        "core.safecrlf", "core.sharedrepository", "core.sparsecheckout",
        "core.sparsecheckoutcone", "core.splitindex", "core.symlinks", "core.trustctime",
        "core.unsetenvvars", "core.untrackedcache", "core.usereplacerefs",
        "core.warnambiguousrefs", "core.whitespace", "core.worktree", "core.longpaths",
        "core.fscache", "core.usebuiltinfsmonitor", "core.gitproxy",
        # core.gitproxy is neutralized through GIT_PROXY_COMMAND="" (which git reads first)
        # diff (two-part; drivers are three-part)
        "diff.algorithm", "diff.autorefreshindex", "diff.colormoved", "diff.colormovedws",
        "diff.context", "diff.dirstat", "diff.guitool", "diff.ignoresubmodules",
        "diff.indentheuristic", "diff.interhunkcontext", "diff.mnemonicprefix",
        "diff.noprefix", "diff.orderfile", "diff.relative", "diff.renamelimit",
        "diff.renames", "diff.statgraphwidth", "diff.statnamewidth", "diff.submodule",
        "diff.suppressblankempty", "diff.tool", "diff.wordregex", "diff.wserrorhighlight",
        "diff.compactionheuristic", "diff.trustexitcode", "diff.srcprefix", "diff.dstprefix",
        "difftool.prompt", "difftool.trustexitcode", "difftool.guidefault",
        "merge.autostash", "merge.branchdesc", "merge.conflictstyle", "merge.defaulttoupstream",
        "merge.directoryrenames", "merge.ff", "merge.guitool", "merge.log",
        "merge.renamelimit", "merge.renames", "merge.renormalize", "merge.stat",
        "merge.suppressdest", "merge.tool", "merge.verbosity", "merge.verifysignatures",
        "mergetool.hideresolved", "mergetool.keepbackup", "mergetool.keeptemporaries",
        "mergetool.prompt", "mergetool.writetotemp", "mergetool.guidefault",
        "gpg.format", "gpg.mintrustlevel",
        "help.format", "help.htmlpath", "help.autocorrect", "man.viewer",
        "commit.cleanup", "commit.status", "commit.template", "commit.verbose",
        "commit.gpgsign", "tag.sort", "tag.gpgsign", "tag.forcesignannotated",
        "push.autosetupremote", "push.default", "push.followtags", "push.negotiate",
        "push.pushoption", "push.recursesubmodules", "push.usebitmaps",
        "push.useforceifincludes", "push.gpgsign",
        "log.abbrevcommit", "log.date", "log.decorate", "log.diffmerges",
        "log.excludedecoration", "log.follow", "log.graphcolors", "log.initialdecorationset",
        "log.mailmap", "log.showroot", "log.showsignature",
        "init.defaultbranch", "init.templatedir",
        "interactive.singlekey", "protocol.version", "remote.pushdefault",
        "submodule.active", "submodule.alternateerrorstrategy", "submodule.alternatelocation",
        "submodule.fetchjobs", "submodule.propagatebranches", "submodule.recurse",
        "credential.usehttppath", "credential.username", "credential.protectprotocol",
        "credential.sanitizeprompt", "credential.interactive",
        "uploadpack.allowanysha1inwant", "uploadpack.allowfilter",
        "uploadpack.allowreachablesha1inwant", "uploadpack.allowrefinwant",
        "uploadpack.allowtipsha1inwant", "uploadpack.hiderefs", "uploadpack.keepalive",
        "uploadpack.allowsidebandall",
        "tar.umask", "imap.authmethod", "imap.folder", "imap.host", "imap.pass", "imap.port",
        "imap.preformattedhtml", "imap.sslverify", "imap.user",
        "instaweb.local", "instaweb.modulepath", "instaweb.port",
        "sendemail.identity", "sendemail.smtpencryption", "sendemail.smtpuser",
        "sendemail.smtpserverport", "sendemail.from", "sendemail.to", "sendemail.cc",
        "sendemail.bcc", "sendemail.annotate", "sendemail.suppresscc", "sendemail.confirm",
        "sendemail.chainreplyto", "sendemail.thread", "sendemail.validate",
        "sendemail.multiedit", "sendemail.signedoffbycc", "sendemail.suppressfrom",
        "sendemail.transferencoding", "sendemail.xmailer", "sendemail.envelopesender",
        "sendemail.smtpdomain", "sendemail.smtpauth", "sendemail.smtpsslcertpath",
        "sendemail.aliasesfile", "sendemail.aliasfiletype", "sendemail.forbidsendmailvariables",
        "sendemail.smtpbatchsize", "sendemail.smtpreloginDelay".lower(),
        "sendemail.composeencoding", "sendemail.assume8bitencoding",
    }
)  # fmt: skip

# Names allowed under ``http.`` and ``http.<url>.`` (everything but saveCookies, which writes
# the cookie file, is read-only data: proxies and certificates are only files git reads).
HTTP_INERT_NAMES = frozenset(
    {
        "cookiefile", "curloptresolve", "delegation", "emptyauth", "extraheader",
        "followredirects", "lowspeedlimit", "lowspeedtime", "maxrequests", "minsessions",
        "noepsv", "pinnedpubkey", "postbuffer", "proxy", "proxyauthmethod",
        "proxysslcainfo", "proxysslcert", "proxysslcertpasswordprotected", "proxysslkey",
        "schannelcheckrevoke", "schannelusesslcainfo", "sslbackend", "sslcainfo",
        "sslcapath", "sslcert", "sslcertpasswordprotected", "sslcipherlist", "sslkey",
        "ssltry", "sslverify", "sslversion", "useragent", "version", "receivepack",
        "uploadarchive", "getanyfile", "keepalive",
    }
)  # fmt: skip

# Three-part keys ``section.<subsection>.name`` that are inert: section -> names.
INERT_SUBKEY_NAMES: dict[str, tuple[str, ...]] = {
    "remote": (
        "url", "pushurl", "fetch", "push", "mirror", "skipdefaultupdate", "skipfetchall",
        "tagopt", "prune", "prunetags", "partialclonefilter", "promisor", "proxy",
        "proxyauthmethod", "followremotehead", "serveroption",
    ),
    "diff": ("binary", "wordregex", "xfuncname", "funcname", "algorithm"),
    "difftool": ("trustexitcode",),
    "merge": ("name", "recursive"),
    "mergetool": ("trustexitcode", "hideresolved", "layout", "hasoutput", "useautomerge"),
    "submodule": ("url", "branch", "active", "fetchrecursesubmodules", "ignore", "shallow"),
    "credential": ("username", "usehttppath"),
    "gpg": ("allowedsignersfile", "revocationfile"),  # gpg.ssh.*
    "add": ("usebuiltin",),  # add.interactive.useBuiltin
    "guitool": (
        "argprompt", "confirm", "needsfile", "noconsole", "norescan", "prompt", "revprompt",
        "revunmerged", "title",
    ),
    "sendemail": (
        "from", "to", "cc", "bcc", "smtpuser", "smtpencryption", "smtpserverport",
        "smtpdomain", "annotate",
    ),
    "notes": ("mergestrategy",),
}  # fmt: skip
INERT_SUBKEYS = frozenset(
    (section, name) for section, names in INERT_SUBKEY_NAMES.items() for name in names
)


class Neutral:
    """How one program-running key is made inert: the value it is overridden with."""

    __slots__ = ("value", "why")

    def __init__(self, value: str, why: str) -> None:
        self.value = value
        self.why = why


# Two-part keys and their neutral values. Keys marked ALWAYS below are set whether or not
# the configuration has them (a default would run a program, or the cost is nil).
NEUTRAL_KEYS: dict[str, Neutral] = {
    "core.fsmonitor": Neutral("false", "the fsmonitor hook runs on every index refresh"),
    "core.hookspath": Neutral(NO_HOOKS, "hooks run on commits, checkouts and index writes"),
    "core.pager": Neutral("cat", "the pager is a program (`cat` means none)"),
    "core.editor": Neutral(":", "the editor is a program (`:` means none)"),
    "sequence.editor": Neutral(":", "the rebase todo editor is a program"),
    "core.askpass": Neutral("", "the password prompt is a program (empty: none)"),
    "core.sshcommand": Neutral(DISABLED, "ssh runs this command"),
    "core.alternaterefscommand": Neutral(DISABLED, "runs for each object alternate"),
    "credential.helper": Neutral("", "credential helpers are programs (empty resets)"),
    "diff.external": Neutral(EXTERNAL_DIFF, "the external diff program"),
    "gpg.program": Neutral(DISABLED, "signature checks run gpg"),
    "help.browser": Neutral(DISABLED, "git help -w runs the browser"),
    "web.browser": Neutral(DISABLED, "git web--browse runs the browser"),
    "interactive.difffilter": Neutral(IDENTITY_FILTER, "git add -p pipes the diff through it"),
    "uploadpack.packobjectshook": Neutral("/usr/bin/env", "upload-pack runs it"),
    "imap.tunnel": Neutral(DISABLED, "git imap-send runs it"),
    "instaweb.httpd": Neutral(DISABLED, "git instaweb runs it"),
    "instaweb.browser": Neutral(DISABLED, "git instaweb runs it"),
    "sendemail.smtpserver": Neutral(DISABLED, "may name a sendmail program"),
    "sendemail.sendmailcmd": Neutral(DISABLED, "a program"),
    "sendemail.tocmd": Neutral(DISABLED, "a program"),
    "sendemail.cccmd": Neutral(DISABLED, "a program"),
    "sendemail.headercmd": Neutral(DISABLED, "a program"),
    "protocol.allow": Neutral("never", "unknown transports run remote helpers"),
    "http.savecookies": Neutral("false", "writes the cookie file"),
}

# Always set, whatever the configuration holds.
ALWAYS: dict[str, str] = {
    "core.fsmonitor": "false",
    "core.hookspath": NO_HOOKS,
    "core.pager": "cat",
    "core.editor": ":",
    "sequence.editor": ":",
    "core.askpass": "",
    "core.sshcommand": DISABLED,
    "credential.helper": "",
    "gpg.program": DISABLED,
    "gpg.openpgp.program": DISABLED,
    "gpg.x509.program": DISABLED,
    "gpg.ssh.program": DISABLED,
    "gpg.ssh.defaultkeycommand": DISABLED,
    "commit.gpgsign": "false",  # signing would run gpg.program and fail every commit
    "tag.gpgsign": "false",
    "tag.forcesignannotated": "false",
    "push.gpgsign": "false",
    "log.showsignature": "false",
    "merge.verifysignatures": "false",
    "help.autocorrect": "0",  # a typo must not run another (maybe writing) command
    # `git diff` against the worktree refreshes a stale index and writes .git/index
    # (GIT_OPTIONAL_LOCKS=0 does not stop it): a read-only diff must write nothing
    "diff.autorefreshindex": "false",
    "init.templatedir": TEMPLATE_DIR,
    "protocol.allow": "never",
    "protocol.file.allow": "user",
    "protocol.git.allow": "always",
    "protocol.http.allow": "always",
    "protocol.https.allow": "always",
    "protocol.ssh.allow": "never",
}
ALLOWED_PROTOCOLS = frozenset({"file", "git", "http", "https"})

# Three-part keys by (section, name): their neutral value.
NEUTRAL_SUBKEYS: dict[tuple[str, str], Neutral] = {
    ("diff", "command"): Neutral(EXTERNAL_DIFF, "an external diff driver"),
    ("diff", "textconv"): Neutral(IDENTITY_FILTER, "a text conversion program"),
    ("diff", "cachetextconv"): Neutral("false", "writes notes refs"),
    ("filter", "clean"): Neutral("", "a clean filter program (empty: no filter)"),
    ("filter", "smudge"): Neutral("", "a smudge filter program (empty: no filter)"),
    ("filter", "process"): Neutral("", "a long-running filter program (empty: none)"),
    ("merge", "driver"): Neutral(f"{MERGE_DRIVER} %O %A %B %L %P", "a merge driver program"),
    ("difftool", "cmd"): Neutral(DISABLED, "a diff tool program"),
    ("difftool", "path"): Neutral(DISABLED, "a diff tool program"),
    ("mergetool", "cmd"): Neutral(DISABLED, "a merge tool program"),
    ("mergetool", "path"): Neutral(DISABLED, "a merge tool program"),
    ("man", "cmd"): Neutral(DISABLED, "a manual viewer program"),
    ("man", "path"): Neutral(DISABLED, "a manual viewer program"),
    ("browser", "cmd"): Neutral(DISABLED, "a browser program"),
    ("browser", "path"): Neutral(DISABLED, "a browser program"),
    ("guitool", "cmd"): Neutral(DISABLED, "a program git gui runs"),
    ("credential", "helper"): Neutral("", "a credential helper program (empty resets)"),
    ("tar", "command"): Neutral("git archive gzip", "git archive pipes through it"),
    ("gpg", "program"): Neutral(DISABLED, "a signing program"),
    ("gpg", "defaultkeycommand"): Neutral(DISABLED, "a program"),
    ("sendemail", "smtpserver"): Neutral(DISABLED, "may name a program"),
    ("sendemail", "tocmd"): Neutral(DISABLED, "a program"),
    ("sendemail", "cccmd"): Neutral(DISABLED, "a program"),
    ("sendemail", "headercmd"): Neutral(DISABLED, "a program"),
    ("sendemail", "sendmailcmd"): Neutral(DISABLED, "a program"),
}
# Keys with no subsection in the name part: pager.<cmd> and alias.<name> (any name).
NEUTRAL_SECTIONS: dict[str, Neutral] = {
    "pager": Neutral("false", "a per-command pager may be a program"),
    "alias": Neutral("", "aliases run shell commands (`!`) or options the analyzer never saw"),
}


# remote.<name>.<key>: git uses the first value given, so a later override cannot win; only
# git's own program is accepted. (vcs names a remote helper program, git-remote-<vcs>.)
FIRST_VALUE_WINS = {"uploadpack": "git-upload-pack", "receivepack": "git-receive-pack",
                    "vcs": None}  # fmt: skip


def classify(entry: ConfigEntry) -> tuple[str, str] | None:
    """The override that makes ``entry`` inert, None if it is inert, or raise Refusal."""
    section, name, sub = entry.section, entry.name, entry.subsection
    if section in NEUTRAL_SECTIONS:
        return entry.key, NEUTRAL_SECTIONS[section].value
    if sub is None:
        if entry.key in NEUTRAL_KEYS:
            return entry.key, NEUTRAL_KEYS[entry.key].value
        if section in INERT_SECTIONS or entry.key in INERT_KEYS:
            return None
        if section == "http" and name in HTTP_INERT_NAMES:
            return None
        raise _unknown(entry)
    if section == "http":  # http.<url>.<name>
        if name == "savecookies":
            return entry.key, "false"
        if name in HTTP_INERT_NAMES:
            return None
        raise _unknown(entry)
    if section == "protocol" and name == "allow":
        return (
            entry.key,
            "user" if sub == "file" else "always" if sub in ALLOWED_PROTOCOLS else "never",
        )
    if section == "submodule" and name == "update":
        # `!command` runs a program; the other modes are git's own
        return (entry.key, "none") if (entry.value or "").startswith("!") else None
    if section == "filter" and name == "required":
        return entry.key, "false"
    neutral = NEUTRAL_SUBKEYS.get((section, name))
    if neutral is not None:
        return entry.key, neutral.value
    if section in INERT_SECTIONS or (section, name) in INERT_SUBKEYS:
        return None
    if section == "remote" and name in FIRST_VALUE_WINS:
        # git keeps the first value of these: an override cannot replace it
        if entry.value == FIRST_VALUE_WINS[name]:
            return None
        raise Refusal(
            f"the configuration key {entry.key!r} ({_where(entry)}) names a program git "
            "would run, and git takes its first value, so it cannot be neutralized; "
            "remove it to use this repository"
        )
    raise _unknown(entry)


def _where(entry: ConfigEntry) -> str:
    return f"{entry.scope} scope, {entry.origin}"


def _unknown(entry: ConfigEntry) -> Refusal:
    return Refusal(
        f"the configuration key {entry.key!r} ({_where(entry)}) is not known to be safe: "
        "it might make git run a program. git was not run. Remove the key (or use "
        "`git config --unset`) if it is not needed"
    )


def overrides_for(entries: Iterable[ConfigEntry]) -> dict[str, str]:
    """Every override the configuration needs, the fixed ones last (they win)."""
    found: dict[str, str] = {}
    for entry in entries:
        override = classify(entry)
        if override is not None:
            found[override[0]] = override[1]
    for key in ALWAYS:
        found.pop(key, None)
    return {**found, **ALWAYS}


def parse_listing(data: bytes) -> list[ConfigEntry]:
    """Parse `git config --list -z --show-scope --show-origin`; malformed output refuses."""
    if not data:
        return []
    if not data.endswith(b"\0"):
        raise Refusal("cannot read git's configuration listing (no final NUL)")
    fields = data[:-1].split(b"\0")
    if len(fields) % 3:
        raise Refusal("cannot read git's configuration listing (fields are not triples)")
    entries = []
    for index in range(0, len(fields), 3):
        scope, origin, pair = (
            f.decode("utf-8", "surrogateescape") for f in fields[index : index + 3]
        )
        key, newline, value = pair.partition("\n")
        if not key or "." not in key or not scope:
            raise Refusal(f"cannot read git's configuration listing (entry {pair[:60]!r})")
        entries.append(ConfigEntry(scope, origin, key, value if newline else None))
    return entries


# --- environment ------------------------------------------------------------------------

# Variables set for the real git: they take precedence over any configuration.
ENV_OVERRIDES: dict[str, str] = {
    "GIT_EXEC_PATH": EXEC_PATH,
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_EDITOR": ":",
    "GIT_SEQUENCE_EDITOR": ":",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PROXY_COMMAND": "",  # set and empty: core.gitProxy is not consulted
    "GIT_TRACE2": "0",  # trace2.*Target (system/global config) write files or sockets
    "GIT_TRACE2_PERF": "0",
    "GIT_TRACE2_EVENT": "0",
    "GIT_NO_LAZY_FETCH": "1",  # a partial clone's missing object must not fetch (and write)
}
# GIT_* variables git 2.39 reads that are kept as they are: repository selection,
# identities, pathspec modes, internal hand-overs between git processes, and
# configuration sources (which the listing sees exactly as the real git will).
ENV_KEEP = frozenset(
    {
        "GIT_ALLOC_LIMIT", "GIT_ALLOW_NULL_SHA1", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_ATTR_NOSYSTEM", "GIT_AUTHOR_DATE", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_IDENT",
        "GIT_AUTHOR_NAME", "GIT_BASENAME_FACTOR", "GIT_CEILING_DIRECTORIES",
        "GIT_CHERRY_PICK_HELP", "GIT_COMMITTER_DATE", "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_IDENT", "GIT_COMMITTER_NAME", "GIT_COMMONDIR", "GIT_COMMON_DIR",
        "GIT_CONFIG_COUNT", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_SYSTEM", "GIT_DEFAULT_BRANCH",
        "GIT_DEFAULT_HASH", "GIT_DIFFTOOL_DIRDIFF", "GIT_DIFFTOOL_NO_PROMPT",
        "GIT_DIFFTOOL_PROMPT", "GIT_DIFFTOOL_TRUST_EXIT_CODE", "GIT_DIFF_OPTS",
        "GIT_DIFF_PATH_COUNTER", "GIT_DIFF_PATH_TOTAL", "GIT_DIR",
        "GIT_DISABLE_UNTRACKED_CACHE", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_FLUSH",
        "GIT_FORCE_THREADS", "GIT_FORCE_UNTRACKED_CACHE", "GIT_GLOB_PATHSPECS",
        "GIT_GRAFT_FILE", "GIT_ICASE_PATHSPECS", "GIT_IMPLICIT_WORK_TREE", "GIT_INDEX_FILE",
        "GIT_INDEX_VERSION", "GIT_INTERNAL_SUPER_PREFIX", "GIT_LITERAL_PATHSPECS",
        "GIT_MERGE_AUTOEDIT", "GIT_MERGE_VERBOSITY", "GIT_MMAP_LIMIT", "GIT_NAMESPACE",
        "GIT_NOGLOB_PATHSPECS", "GIT_NOTES_DISPLAY_REF", "GIT_NOTES_REF",
        "GIT_NOTES_REWRITE_MODE", "GIT_NOTES_REWRITE_REF", "GIT_NO_REPLACE_OBJECTS",
        "GIT_OBJECT_DIRECTORY", "GIT_OPTIONAL_LOCKS", "GIT_PAGER_IN_USE", "GIT_PREFIX",
        "GIT_PRINT_SHA1_ELLIPSIS", "GIT_PROGRESS_DELAY", "GIT_PROTOCOL",
        "GIT_PROTOCOL_FROM_USER", "GIT_PUSH_CERT", "GIT_PUSH_CERT_KEY", "GIT_PUSH_CERT_NONCE",
        "GIT_PUSH_CERT_NONCE_SLOP", "GIT_PUSH_CERT_NONCE_STATUS", "GIT_PUSH_CERT_SIGNER",
        "GIT_PUSH_CERT_STATUS", "GIT_PUSH_OPTION_COUNT", "GIT_QUARANTINE_PATH",
        "GIT_REFLOG_ACTION", "GIT_REF_PARANOIA", "GIT_REPLACE_REF_BASE", "GIT_SHALLOW_FILE",
        "GIT_USER_AGENT", "GIT_WORK_TREE", "GIT_MERGETOOL_GUI", "GIT_DIFF_TOOL",
        # where TLS trust comes from (http.sslCAInfo/sslCAPath, inert as config too): a
        # session's egress CA, or a test CA, is handed to git this way
        "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
    }
)  # fmt: skip
ENV_KEEP_PREFIXES = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_", "GIT_PUSH_OPTION_")
# Not GIT_*, but read by git to choose a program.
ENV_DROP = frozenset({"SSH_ASKPASS", "BROWSER", "EDITOR", "VISUAL"})


def clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the real git, without what loads programs or writes traces.

    Dropped: every GIT_* variable not known to be inert (GIT_EXTERNAL_DIFF, GIT_SSH*,
    GIT_ASKPASS, GIT_TEMPLATE_DIR, GIT_TRACE*, GIT_TEST_*, GIT_CONFIG (legacy),
    GIT_ALLOW_PROTOCOL, GIT_MAN_VIEWER, ...), then ENV_OVERRIDES set.
    """
    kept = {
        name: value
        for name, value in environ.items()
        if name not in ENV_DROP
        and (not name.startswith("GIT_") or name in ENV_KEEP or name.startswith(ENV_KEEP_PREFIXES))
    }
    kept.update(ENV_OVERRIDES)
    return kept


def sq_quote(text: str) -> str:
    """Quote like git's sq_quote_buf: '...' with ' and ! escaped."""
    return "'" + text.replace("'", "'\\''").replace("!", "'\\!'") + "'"


def config_parameters(existing: str, old_style: Sequence[str], pairs: Mapping[str, str]) -> str:
    """GIT_CONFIG_PARAMETERS: the inherited one, then `-c` texts, then key/value pairs.

    New-style ``'key'='value'`` pairs keep a key with ``=`` in its subsection intact (``-c``
    would cut it at the first ``=``).
    """
    parts = [existing.strip()] if existing.strip() else []
    parts += [sq_quote(text) for text in old_style]
    parts += [f"{sq_quote(key)}={sq_quote(value)}" for key, value in pairs.items()]
    return " ".join(parts)


# --- the command line -------------------------------------------------------------------

# git 2.39's handle_options(): options that take the next word (or an `=` form).
GLOBAL_WITH_VALUE = ("--git-dir", "--work-tree", "--namespace", "--super-prefix")
GLOBAL_FLAGS = frozenset(
    {
        "-p", "--paginate", "-P", "--no-pager", "--no-replace-objects", "--bare",
        "--literal-pathspecs", "--no-literal-pathspecs", "--glob-pathspecs",
        "--noglob-pathspecs", "--icase-pathspecs", "--no-optional-locks",
        "--html-path", "--man-path", "--info-path", "--exec-path",
    }
)  # fmt: skip
# Repository-taking server commands: they enter the directory given as their last operand.
SERVER_COMMANDS = frozenset({"upload-pack", "receive-pack", "upload-archive"})


class Invocation:
    """A parsed git command line."""

    def __init__(self, dashed: str | None) -> None:
        self.dashed = dashed  # "upload-pack" for git-upload-pack, else None
        self.listing_globals: list[str] = []  # global options replayed for the listing
        self.config_texts: list[str] = []  # `-c` texts, in order
        self.config_pairs: list[tuple[str, str]] = []  # from --config-env
        self.rest: list[str] = []  # the real git's arguments after argv[0]
        self.command: str | None = None
        self.command_index = 0  # where the command is in ``rest``

    @property
    def server_directory(self) -> str | None:
        """The repository a server command (upload-pack, ...) will enter: its last operand."""
        if self.command not in SERVER_COMMANDS:
            return None
        after = self.rest[self.command_index + (0 if self.dashed else 1) :]
        operands = [arg for arg in after if not arg.startswith("-")]
        return operands[-1] if operands else None


def parse_invocation(argv0: str, args: Sequence[str], environ: Mapping[str, str]) -> Invocation:
    """Split git's global options from the subcommand; refuse what is not understood."""
    base = os.path.basename(argv0)
    if base.startswith("git-"):
        dashed = Invocation(dashed=base[4:])
        dashed.rest, dashed.command = list(args), dashed.dashed
        return dashed
    inv = Invocation(dashed=None)
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-") or arg in ("-v", "--version", "-h", "--help"):
            break
        if arg in ("-c", "--config-env") or arg == "-C" or arg in GLOBAL_WITH_VALUE:
            if index + 1 >= len(args):
                raise Refusal(f"option {arg} needs a value")
            value = args[index + 1]
            index += 2
            if arg == "-c":
                inv.config_texts.append(value)
            elif arg == "--config-env":
                inv.config_pairs.append(_config_env(value, environ))
            elif arg == "--super-prefix":
                inv.rest += [arg, value]  # not for `git config` (it refuses a super-prefix)
            else:
                inv.listing_globals += [arg, value]
                inv.rest += [arg, value]
            continue
        name, eq, value = arg.partition("=")
        if eq and name == "--config-env":
            inv.config_pairs.append(_config_env(value, environ))
        elif eq and name in GLOBAL_WITH_VALUE:
            if name != "--super-prefix":
                inv.listing_globals.append(arg)
            inv.rest.append(arg)
        elif eq and name == "--exec-path":
            raise Refusal("--exec-path=DIR would run git programs from DIR")
        elif arg.startswith("--list-cmds="):
            inv.rest.append(arg)
        elif arg in GLOBAL_FLAGS:
            if arg not in ("-p", "--paginate", "--html-path", "--man-path", "--info-path",
                           "--exec-path"):  # fmt: skip
                inv.listing_globals.append(arg)
            inv.rest.append(arg)
        else:
            raise Refusal(f"unknown option {arg!r} before the git command")
        index += 1
    inv.command_index = len(inv.rest)
    inv.rest += list(args[index:])
    if index < len(args):
        inv.command = args[index]
    return inv


def _config_env(spec: str, environ: Mapping[str, str]) -> tuple[str, str]:
    key, eq, variable = spec.rpartition("=")
    if not eq or not key or not variable:
        raise Refusal(f"--config-env={spec}: expected KEY=ENVVAR")
    if variable not in environ:
        raise Refusal(f"--config-env={spec}: the environment has no {variable}")
    return key, environ[variable]


def server_git_dir(directory: str) -> str | None:
    """The git directory upload-pack/receive-pack would enter (git's enter_repo order)."""
    for suffix in ("/.git", "", ".git/.git", ".git"):
        candidate = directory + suffix
        if os.path.isdir(candidate) and os.path.exists(os.path.join(candidate, "HEAD")):
            return candidate
    return None


# --- running ----------------------------------------------------------------------------


def listing_command(inv: Invocation) -> list[str]:
    globals_ = list(inv.listing_globals)
    directory = inv.server_directory
    if directory is not None:
        git_dir = server_git_dir(directory)
        if git_dir is not None:
            globals_ = [f"--git-dir={git_dir}"]
    return ["git", *globals_, "config", "--list", "-z", "--show-scope", "--show-origin"]


def run(argv: Sequence[str], env: Mapping[str, str], capture: bool) -> tuple[int, bytes, bytes]:
    """Run the real git (stdin from /dev/null); with ``capture``, return its output.

    stdout is read from a pipe; stderr goes to a memory file, so neither can block the other.
    """
    actions: list[tuple[int, ...]] = []
    read_end = err_fd = -1
    null = os.open(os.devnull, os.O_RDONLY)
    actions.append((os.POSIX_SPAWN_DUP2, null, 0))
    if capture:
        read_end, write_end = os.pipe()
        err_fd = os.memfd_create("git-guard-stderr")
        actions += [(os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, err_fd, 2)]
    try:
        pid = os.posix_spawn(REAL_GIT, list(argv), dict(env), file_actions=actions)
    finally:
        os.close(null)
        if capture:
            os.close(write_end)
    out = bytearray()
    if capture:
        while chunk := os.read(read_end, 1 << 16):
            out += chunk
        os.close(read_end)
    status = os.waitpid(pid, 0)[1]
    err = b""
    if capture:
        os.lseek(err_fd, 0, os.SEEK_SET)
        err = os.read(err_fd, 1 << 20)
        os.close(err_fd)
    return os.waitstatus_to_exitcode(status), bytes(out), err


def read_configuration(inv: Invocation, env: Mapping[str, str]) -> list[ConfigEntry]:
    listing_env = {k: v for k, v in env.items() if k != "GIT_INTERNAL_SUPER_PREFIX"}
    try:
        code, out, err = run(listing_command(inv), listing_env, capture=True)
    except OSError as exc:
        raise Refusal(f"cannot run the real git: {exc}") from exc
    if code != 0:
        message = err.decode("utf-8", "replace").strip()
        raise Refusal(message or f"git config --list failed (exit {code})")
    return parse_listing(out)


def guard(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The real git's argv and environment for this invocation (or raise Refusal)."""
    inv = parse_invocation(argv[0], argv[1:], environ)
    env = clean_environment(environ)
    user_params = config_parameters(
        env.get("GIT_CONFIG_PARAMETERS", ""), inv.config_texts, dict(inv.config_pairs)
    )
    if user_params:
        env["GIT_CONFIG_PARAMETERS"] = user_params
    entries = read_configuration(inv, env)
    env["GIT_CONFIG_PARAMETERS"] = config_parameters(user_params, (), overrides_for(entries))
    name = f"git-{inv.dashed}" if inv.dashed else "git"
    return [name, *inv.rest], env


# --- helpers: git's own diff and merge in place of configured programs -------------------


def external_diff(args: Sequence[str], environ: Mapping[str, str]) -> int:
    """GIT_EXTERNAL_DIFF protocol: path old-file old-hex old-mode new-file new-hex new-mode.

    Prints git's built-in diff of the two files, labelled with the path.
    """
    if len(args) < 7:
        return 0  # an unmerged path: nothing to show
    path, old, new = args[0], args[1], args[4]
    argv = ["git", "diff", "--no-index", "--no-ext-diff", "--no-textconv", "--no-color",
            "--", old, new]  # fmt: skip
    code, out, err = run(argv, clean_environment(environ), capture=True)
    if code not in (0, 1):
        sys.stderr.buffer.write(err)
        return code
    sys.stdout.buffer.write(relabel(out, path, old, new))
    return 0


def relabel(diff: bytes, path: str, old: str, new: str) -> bytes:
    """Put ``path`` in the header lines where `diff --no-index` wrote temporary names."""
    lines = diff.split(b"\n")
    label = os.fsencode(path)
    for index, line in enumerate(lines):
        if line.startswith(b"@@"):
            break
        if line.startswith(b"diff --git "):
            lines[index] = b"diff --git a/" + label + b" b/" + label
        elif line.startswith(b"--- ") and line != b"--- /dev/null":
            lines[index] = b"--- a/" + label
        elif line.startswith(b"+++ ") and line != b"+++ /dev/null":
            lines[index] = b"+++ b/" + label
    return b"\n".join(lines)


def merge_driver(args: Sequence[str], environ: Mapping[str, str]) -> int:
    """A merge driver's protocol (%O %A %B %L %P): git's own three-way merge into %A."""
    if len(args) < 4:
        sys.stderr.write(f"{NAME}: merge-driver: expected %O %A %B %L\n")
        return 2
    base, ours, theirs, size = args[:4]
    argv = ["git", "merge-file", f"--marker-size={size}", "--", ours, base, theirs]
    code = run(argv, clean_environment(environ), capture=False)[0]
    return 0 if code == 0 else 1


HELPERS: dict[str, Callable[[Sequence[str], Mapping[str, str]], int]] = {
    "external-diff": external_diff,
    "merge-driver": merge_driver,
}


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    helper = HELPERS.get(os.path.basename(argv[0]))
    if helper is not None:
        return helper(argv[1:], environ)
    try:
        real_argv, env = guard(argv, environ)
    except Refusal as refusal:
        sys.stderr.write(f"fatal: {NAME}: refused: {refusal}\n")
        return FATAL
    sys.stdout.flush()
    os.execve(REAL_GIT, real_argv, env)  # noqa: S606 (no shell: the argv as parsed)
    return FATAL  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
