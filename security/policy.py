"""Policies: which findings a deployment tolerates, user rules by command prefix, and the
hosts a session may reach (`security.network_policy`).

A policy file is YAML read strictly: an unknown or repeated key, a cycle of
``extends:``, a value of the wrong kind is a `PolicyError` naming the file and the key,
never a silently dropped rule (a ``rule:`` typo for ``rules:`` would drop its denies).
Loading files is `security.policy_file`; this module holds the model and the presets.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from security.network_policy import UNMERGED, Credential, NetworkPolicy
from security.verdict import Decision

Shell = Literal["any", "bash", "sh", "zsh"]


class PolicyError(ValueError):
    """A policy name or file that cannot be used; the message says why."""


class Rule(BaseModel):
    """Allow, ask or deny commands whose parsed argv starts with ``prefix``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: list[str] = Field(min_length=1)
    decision: Decision

    def matches(self, argv: list[str]) -> bool:
        if len(argv) < len(self.prefix):
            return False
        name = argv[0].rsplit("/", 1)[-1] if "/" not in self.prefix[0] else argv[0]
        return [name, *argv[1 : len(self.prefix)]] == self.prefix


class Policy(BaseModel):
    """How findings turn into decisions for one kind of deployment.

    ``overrides`` turn a check's ``ask`` into allow or deny; ``rules`` allow, ask or deny
    commands by argv prefix. Neither ever clears a check's ``deny`` (fail closed): a
    rule allowing ``rm`` leaves ``rm -rf /`` denied, and the verdict says so (a P01
    finding: "rule allows rm -rf /, but S29 denies it ..."). An allow rule clears the
    asks of the commands it matches, but never a structural finding (what the analyzer
    could not fully see). Among rules matching one command, deny wins over ask over allow.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    description: str = ""
    shell: Shell = Field("any", description="the shell that runs lines; any = assume the worst")
    workspace: str = "/workspace"
    overrides: dict[str, Literal["allow", "deny"]] = Field(
        default_factory=dict,
        description="what an `ask` from a check becomes (a `deny` always stays)",
    )
    headless: bool = Field(
        False,
        description="nobody can confirm an ask, so the deployment refuses it (the gate, "
        "`airlock check` and `airlock exec` answer deny); `analyze` still reports ask",
    )
    edits: Literal["ask", "workspace"] = Field(
        "ask", description="the Write and Edit tools: ask for each file, or allow in the workspace"
    )
    trust_projects: bool = Field(
        False, description="agent runs trust every project: its AGENTS.md and policy load"
    )
    classify_asks: bool = Field(
        False,
        description="when nobody can answer an ask, a cheap model may call it routine (allow) "
        "or not (deny); never a deny, never a structural finding",
    )
    rules: list[Rule] = Field(default_factory=list)
    network: NetworkPolicy = Field(
        default_factory=NetworkPolicy,
        description="hosts the session's egress proxy may reach (default: none)",
    )

    def allowing_hosts(self, hosts: list[str]) -> Policy:
        """This policy with ``hosts`` added to its network allow list (``--allow-host``);
        each entry is checked as a policy file's would be (a `PolicyError` says why)."""
        if not hosts:
            return self
        from pydantic import ValidationError

        try:
            network = NetworkPolicy(allow=[*self.network.allow, *hosts], deny=self.network.deny)
        except ValidationError as exc:
            problems = "; ".join(
                str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
            )
            raise PolicyError(f"--allow-host: {problems}") from None
        return self.model_copy(update={"network": network})

    def brokering(self, credentials: list[str]) -> Policy:
        """This policy with ``credentials`` added to its network credentials
        (``--credential NAME=HOST[,HOST]``: the orchestrator's variable NAME is sent to
        those hosts alone, each of which must be allowed too); a `PolicyError` says why
        one cannot be used."""
        if not credentials:
            return self
        from pydantic import ValidationError

        hosts: dict[str, list[str]] = {}
        for item in credentials:
            name, equals, given = item.partition("=")
            if not equals or not name or not given:
                raise PolicyError(
                    f"--credential {item!r}: expected NAME=HOST[,HOST], NAME a variable "
                    "in this environment"
                )
            hosts[name] = [*hosts.get(name, []), *given.split(",")]
        try:
            added = [Credential(env=name, hosts=entries) for name, entries in hosts.items()]
            extra = NetworkPolicy.model_validate({"credentials": added}, context={UNMERGED: True})
            network = self.network.merged(extra)
        except ValidationError as exc:
            problems = "; ".join(
                str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
            )
            raise PolicyError(f"--credential: {problems}") from None
        return self.model_copy(update={"network": network})

    @field_validator("overrides")
    @classmethod
    def _structural_stays_closed(cls, value: dict[str, str]) -> dict[str, str]:
        from security.checks import REGISTRY

        problems = [
            f"unknown check {check_id}"
            if check_id not in REGISTRY
            else f"{check_id} is structural: it cannot be relaxed to allow"
            for check_id, decision in value.items()
            if check_id not in REGISTRY or (decision == "allow" and REGISTRY[check_id].structural)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @classmethod
    def load(cls, name_or_path: str) -> Policy:
        """A preset by name (read-only, dev, ci-untrusted) or a YAML file; a bad one is
        a `PolicyError` with one line per problem."""
        from security.policy_file import load_policy

        return load_policy(name_or_path).policy


# Checks whose `ask` the dev preset allows: writing and running the project's own
# code inside the sandbox, with variables of its choosing (S40). Network, privilege,
# writes outside the workspace, secrets, installs, code-loading variables and history
# rewriting still ask or deny.
_DEV_RELAXED = ("S17", "S18", "S20", "S21", "S24", "S34", "S37", "S40")

PRESETS: dict[str, Policy] = {}


def _presets() -> None:
    PRESETS["read-only"] = Policy(
        name="read-only",
        description="allow only what is proven read-only; deny the destructive; ask the rest",
    )
    dev = Policy(
        name="dev",
        description="inside the sandbox: edit the workspace, build and test the project",
        overrides=dict.fromkeys(_DEV_RELAXED, "allow"),
        edits="workspace",
    )
    PRESETS["dev"] = dev
    PRESETS["ci-untrusted"] = dev.model_copy(
        update={
            "name": "ci-untrusted",
            "headless": True,
            "description": "dev, with nobody to ask: every ask is a deny",
        }
    )


_presets()
