"""Reading a policy: a preset's name, or a YAML file that may extend another.

A file is read strictly, since a key YAML or the model would drop silently is a rule
lost: ``rule:`` for ``rules:`` once turned a team's deny of ``make deploy`` into an
allow. So an unknown key (with a did-you-mean when one is close), a key given twice, a
value of the wrong kind, a missing parent and a cycle of ``extends:`` are each a
`PolicyError` of one line per problem, naming the file and the key, in words a person
reads (never pydantic's text or a traceback).

``extends:`` names a preset or a file; a relative path is read from the folder of the
file that names it, not from the working folder. A child's rules come after its
parent's, its overrides update the parent's, its ``network:`` allow and deny lists are
added to the parent's (a child narrows a parent's allow with a deny, never by dropping
it), and every other key it gives replaces the parent's value.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from security.network_policy import UNMERGED, Credential, NetworkPolicy
from security.policy import PRESETS, Policy, PolicyError, Rule

EXTENDS = "extends"
MAX_EXTENDS = 16  # files in one chain: far more than a team needs, few enough to read
_SHOWN_INPUT = 40  # a wrong value is quoted in the message when its repr is this short


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy, and what it was built on: each ``extends:`` as written, nearest first
    (files, then the preset that ends the chain, if any)."""

    policy: Policy
    extends: tuple[str, ...] = ()


def load_policy(name_or_path: str) -> LoadedPolicy:
    """A preset by name, or the YAML file at ``name_or_path`` (relative to the working
    folder); a `PolicyError` says what is wrong with it."""
    if name_or_path in PRESETS:
        return LoadedPolicy(PRESETS[name_or_path])
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(PRESETS)
        raise PolicyError(f"no policy named {name_or_path!r} (presets: {known}; or a YAML file)")
    return _load_file(path, ())


def _load_file(path: Path, chain: tuple[tuple[Path, str], ...]) -> LoadedPolicy:
    """``path``'s policy; ``chain`` holds the files that extend it, outermost first."""
    data = _read_mapping(path)
    base = data.pop(EXTENDS, None)
    child = _validated(path, data, unmerged=base is not None)
    if base is None:
        return LoadedPolicy(child)
    if not isinstance(base, str) or not base:
        raise PolicyError(f"{path}: {EXTENDS}: should be a preset name or a file path")
    parent = _parent(path, base, chain)
    try:
        merged = _merged(parent.policy, child)
    except ValidationError as exc:
        raise PolicyError("\n".join(f"{path}: {_problem(e)}" for e in exc.errors())) from None
    return LoadedPolicy(merged, (base, *parent.extends))


def _parent(path: Path, base: str, chain: tuple[tuple[Path, str], ...]) -> LoadedPolicy:
    if base in PRESETS:
        return LoadedPolicy(PRESETS[base])
    here = (path.resolve(), str(path))
    target = path.parent / base  # relative to the file that names it
    if not target.is_file():
        raise PolicyError(f"{path}: {EXTENDS}: no preset or file named {base!r} (at {target})")
    seen = [resolved for resolved, _ in (*chain, here)]
    if target.resolve() in seen:
        names = [shown for _, shown in (*chain, here)][seen.index(target.resolve()) :]
        raise PolicyError(f"{path}: {EXTENDS} cycle: {' → '.join([*names, str(target)])}")
    if len(chain) + 1 >= MAX_EXTENDS:
        raise PolicyError(f"{path}: {EXTENDS}: a chain longer than {MAX_EXTENDS} files")
    return _load_file(target, (*chain, here))


def _merged(parent: Policy, child: Policy) -> Policy:
    """``child``'s keys over ``parent``'s: rules appended, overrides updated, network
    lists joined."""
    update: dict[str, Any] = {name: getattr(child, name) for name in child.model_fields_set}
    update["rules"] = [*parent.rules, *child.rules]
    update["overrides"] = {**parent.overrides, **child.overrides}
    update["network"] = parent.network.merged(child.network)
    return parent.model_copy(update=update)


def _validated(path: Path, data: dict[Any, Any], *, unmerged: bool = False) -> Policy:
    """``data`` as a policy; with ``unmerged`` (a file that extends another), its
    credentials are checked against the allow list only once merged."""
    try:
        context = {UNMERGED: True} if unmerged else None
        return Policy.model_validate({"name": path.stem, **data}, context=context)
    except ValidationError as exc:
        raise PolicyError("\n".join(f"{path}: {_problem(e)}" for e in exc.errors())) from None


def _read_mapping(path: Path) -> dict[Any, Any]:
    try:
        data = yaml.load(path.read_text(), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except OSError as exc:
        raise PolicyError(f"{path}: {exc.strerror or exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise PolicyError(f"{path}: {where}{exc.problem or 'not YAML'}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not YAML ({type(exc).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: a policy is a mapping of keys (shell:, rules:, ...)")
    return data


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error (YAML's
    loaders keep the last one, dropping the first: a second ``rules:`` would)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            repeated = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: the constructor below says so
            continue
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _problem(error: ErrorDetails) -> str:
    """One validation error as ``key.path: what is wrong``."""
    loc = error["loc"]
    kind = error["type"]
    if kind == "extra_forbidden":
        what = "unknown key" + _suggestion(loc)
    elif kind == "missing":
        what = "missing"
    elif kind == "invalid_key":
        what = "keys should be words"
    elif kind == "too_short":
        what = "should not be empty"
    else:
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            what = "should be a mapping"
        else:
            what = error["msg"].removeprefix("Value error, ").split(", unable")[0]
            what = what.replace("Input should be a valid ", "should be a ")
            what = what.replace("Input should be ", "should be ")
        if kind != "value_error":
            what += _shown(error["input"])
    return f"{_key_path(loc)}: {what}"


def _key_path(loc: tuple[int | str, ...]) -> str:
    """``("rules", 0, "decision")`` as ``rules[0].decision``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "policy"


def _suggestion(loc: tuple[int | str, ...]) -> str:
    """``; did you mean 'rules'?`` when an unknown key is close to one allowed there."""
    *parent, key = loc
    if not parent:
        known = [*Policy.model_fields, EXTENDS]
    elif len(parent) == 2 and parent[0] == "rules":
        known = list(Rule.model_fields)
    elif parent == ["network"]:
        known = list(NetworkPolicy.model_fields)
    elif len(parent) == 3 and parent[:2] == ["network", "credentials"]:
        known = list(Credential.model_fields)
    else:
        return ""
    close = difflib.get_close_matches(str(key), known, n=1) or difflib.get_close_matches(
        str(key).lower(), known, n=1
    )
    return f"; did you mean {close[0]!r}?" if close else ""


def _shown(value: object) -> str:
    """`` (got 'fish')`` for a value short to quote, nothing for a longer one."""
    shown = repr(value)
    return f" (got {shown})" if len(shown) <= _SHOWN_INPUT else ""
