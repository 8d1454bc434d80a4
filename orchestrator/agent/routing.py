"""Which model answers which kind of call.

Every API call has a kind: `main` (the agent's turns), `subagent`, `summarize`
(compaction), `classify` (the safety classifier) and `plan`. Each kind maps to a model
id; the defaults put the agent on a Sonnet-class model, the cheap chores on a
Haiku-class one and planning on an Opus-class one. ``AIRLOCK_MODEL_<KIND>`` in the
environment (``AIRLOCK_MODEL_SUMMARIZE=...``) overrides one kind, and a choice on the
command line (``--model`` for main) overrides that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

CallKind = Literal["main", "subagent", "summarize", "classify", "plan"]
CALL_KINDS: tuple[CallKind, ...] = get_args(CallKind)

DEFAULT_MODELS: dict[CallKind, str] = {
    "main": "claude-sonnet-4-6",
    "subagent": "claude-sonnet-4-6",
    "summarize": "claude-haiku-4-5",
    "classify": "claude-haiku-4-5",
    "plan": "claude-opus-4-5",
}
ENV_PREFIX = "AIRLOCK_MODEL_"


class ModelRouter(BaseModel):
    """The model id for each kind of call."""

    model_config = ConfigDict(frozen=True)

    models: dict[CallKind, str]

    @classmethod
    def configured(
        cls, chosen: Mapping[CallKind, str] | None = None, environ: Mapping[str, str] = os.environ
    ) -> ModelRouter:
        """The defaults, overridden by the environment, overridden by ``chosen``
        (what the user asked for on the command line, such as ``--model`` for main)."""
        models = dict(DEFAULT_MODELS)
        for kind in CALL_KINDS:
            value = environ.get(ENV_PREFIX + kind.upper(), "").strip()
            if value:
                models[kind] = value
        return cls(models={**models, **(chosen or {})})

    def model_for(self, kind: CallKind) -> str:
        return self.models[kind]
