"""Where a path in the sandbox leads, every symbolic link followed: a shell function.

The gate judges the name a call gives; the repository chooses its links, so a tool
also checks the file behind the name (`read.refuse_unless_permitted`). ``readlink -m``
(GNU) resolves a path whose last parts do not exist yet; where it is missing (busybox),
``readlink -f`` is applied to the deepest part that exists, and a link it cannot
follow (one that points into a missing directory) is an error: nobody can say where a
write through it would land.
"""

from __future__ import annotations

# `resolve PATH` prints where PATH leads, NUL-terminated; status 3 when it cannot tell.
RESOLVE = (
    'resolve() { r=$(readlink -m -- "$1" 2>/dev/null) && { printf "%s\\0" "$r"; return 0; }; '
    'd=$1; t=; while ! r=$(readlink -f -- "$d" 2>/dev/null); do '
    '[ -L "$d" ] && return 3; t="/${d##*/}$t"; d=${d%/*}; [ -n "$d" ] || d=/; done; '
    'r=${r%/}$t; printf "%s\\0" "${r:-/}"; }; '
)
