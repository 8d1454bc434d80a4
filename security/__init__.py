"""The command analyzer: parse a shell line, run numbered checks, apply a policy."""

from security.analyzer import analyze
from security.network_policy import Credential, NetworkPolicy
from security.policy import PRESETS, Policy, PolicyError, Rule
from security.verdict import Decision, Finding, Risk, Verdict

__all__ = [
    "PRESETS",
    "Credential",
    "Decision",
    "Finding",
    "NetworkPolicy",
    "Policy",
    "PolicyError",
    "Risk",
    "Rule",
    "Verdict",
    "analyze",
]
