"""A run's spec: budgets at the top or together, nothing unknown, presets only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.service.run_models import RunSpec


def test_budgets_given_together_stand_for_the_top_level_fields() -> None:
    spec = RunSpec.model_validate({"task": "t", "budgets": {"usd": 2, "turns": 5, "seconds": 60}})
    assert (spec.budget_usd, spec.max_turns, spec.wall_clock_s) == (2.0, 5, 60.0)
    plain = RunSpec.model_validate({"task": "t", "budget_usd": 1.5, "budget_tokens": 900})
    assert (plain.budget_usd, plain.budget_tokens, plain.max_turns) == (1.5, 900, 40)


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"task": ""},
        {"task": "t", "policy": "/etc/airlock/policy.yaml"},
        {"task": "t", "image": "alpine"},
        {"task": "t", "budgets": {"usd": -1}},
        {"task": "t", "budgets": {"bogus": 1}},
        {"task": "t", "allow_hosts": ["10.0.0.1"]},
        {"task": "t", "trust": True},
    ],
)
def test_what_a_spec_may_not_say_is_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RunSpec.model_validate(spec)
