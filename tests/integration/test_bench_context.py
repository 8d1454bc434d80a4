"""`airlock bench context` on a short session: the figures it prints hang together."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from orchestrator.cli.app import app

pytestmark = pytest.mark.integration


def test_bench_context_json_compares_the_same_session_both_ways() -> None:
    # The window must hold the fixed part (system and tool schemas, about 3,300 tokens)
    # plus the four newest results MicroCompact keeps whole (about 2,000 tokens each).
    result = CliRunner().invoke(
        app, ["bench", "context", "--json", "--tool-calls", "30", "--window", "12000"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["tool_calls"] == 30 and figures["window"] == 12_000
    assert figures["tokens_sent_with_compaction"] < figures["tokens_sent_without_compaction"]
    assert figures["largest_request_with_compaction"] < 12_000
    assert figures["largest_request_without_compaction"] > 12_000
    assert figures["micro_compactions"] > 0
    assert figures["compaction_api_calls"] == figures["auto_compactions"]
