"""Which model each kind of call goes to."""

from __future__ import annotations

from orchestrator.agent.routing import CALL_KINDS, DEFAULT_MODELS, ModelRouter


def test_defaults_route_chores_to_a_cheap_model() -> None:
    router = ModelRouter.configured(environ={})
    assert router.models == DEFAULT_MODELS
    assert "haiku" in router.model_for("summarize") and "haiku" in router.model_for("classify")
    assert "sonnet" in router.model_for("main") and "opus" in router.model_for("plan")
    assert set(router.models) == set(CALL_KINDS)


def test_the_environment_overrides_a_kind_and_the_command_line_overrides_that() -> None:
    env = {"AIRLOCK_MODEL_SUMMARIZE": "cheap-1", "AIRLOCK_MODEL_MAIN": "env-main", "OTHER": "x"}
    router = ModelRouter.configured(environ=env)
    assert router.model_for("summarize") == "cheap-1" and router.model_for("main") == "env-main"
    chosen = ModelRouter.configured({"main": "flag-main"}, environ=env)
    assert chosen.model_for("main") == "flag-main" and chosen.model_for("summarize") == "cheap-1"
    blank = ModelRouter.configured(environ={"AIRLOCK_MODEL_PLAN": "  "})
    assert blank.model_for("plan") == DEFAULT_MODELS["plan"]
