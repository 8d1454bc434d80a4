"""Strip credentials from a repository's git configuration as it is copied into a session.

`actions/checkout` leaves its token in ``.git/config`` as an ``http.<url>.extraheader``;
clones made with a token keep it in the remote URL (``https://user:token@host/...``). In a
session these reach the model (`git config --list`) and, through a file it writes, the
patch. The copy-in removes them from the copy (the host repository is never touched):

- every ``extraheader`` key of an ``[http]`` or ``[http "<url>"]`` section;
- every key of ``[credential]`` and ``[credential "<url>"]`` sections (helpers, usernames);
- the userinfo of every URL in a value or a section name (``remote.*.url``, ``pushurl``,
  ``url.<base>.insteadOf``, ``http.<url>.*``);
- files inside .git whose name mentions credentials (``.git-credentials`` and the like).

What was removed is reported by key, never by value.
"""

from __future__ import annotations

import re

# scheme://userinfo@ ; the userinfo is whatever precedes the first @ of the authority
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s\"]+)@")
# a section header: its section name ends at a dot (legacy [section.sub]), space or bracket
_SECTION = re.compile(r'^\s*\[\s*(?P<section>[^\s\]".]+)(?:\.[^\]"]*|\s+"(?:[^"\\]|\\.)*")?\s*\]')
_KEY = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z0-9-]*)\s*(?:=|$|[;#])")


def strip_userinfo(text: str) -> tuple[str, int]:
    """``text`` with the userinfo of its URLs removed, and how many were removed."""
    return _URL_USERINFO.subn(lambda m: m.group("scheme"), text)


def scrub_config(text: str) -> tuple[str, list[str]]:
    """The configuration without credentials, and the keys (not values) that were changed."""
    out: list[str] = []
    removed: list[str] = []
    section = ""
    dropping = False  # inside a dropped entry's backslash-continued lines
    for line in text.splitlines(keepends=True):
        if dropping:
            dropping = line.rstrip("\r\n").endswith("\\")
            continue
        header = _SECTION.match(line)
        if header:
            section = header.group("section").lower()
            line, count = strip_userinfo(line)
            if count:
                removed.append(f"{section} section name (userinfo of a URL)")
            out.append(line)
            rest = line[header.end() :]
            if not _KEY.match(rest):
                continue
            line = rest  # a key on the header's line: judge it below
            out[-1] = out[-1][: len(out[-1]) - len(rest)] + "\n"
        key = _KEY.match(line)
        if key:
            name = key.group("name").lower()
            if section == "credential" or (section == "http" and name == "extraheader"):
                removed.append(f"{section}.{name}")
                dropping = line.rstrip("\r\n").endswith("\\")
                continue
            line, count = strip_userinfo(line)
            if count:
                removed.append(f"{section}.{name} (userinfo of a URL)")
        out.append(line)
    return "".join(out), removed


def is_credential_file(name: str) -> bool:
    """A file inside .git that stores credentials (``.git/.git-credentials`` and such)."""
    base = name.rsplit("/", 1)[-1].lower()
    return "credential" in base
