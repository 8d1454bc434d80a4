"""`airlock bench context` on a short session: the figures it prints hang together."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

pytestmark = pytest.mark.integration


def test_bench_context_json_compares_the_same_session_both_ways() -> None:
    result = CliRunner().invoke(
        app, ["bench", "context", "--json", "--tool-calls", "30", "--window", "10000"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["tool_calls"] == 30 and figures["window"] == 10_000
    assert figures["tokens_sent_with_compaction"] < figures["tokens_sent_without_compaction"]
    assert figures["largest_request_with_compaction"] < 10_000
    assert figures["largest_request_without_compaction"] > 10_000
    assert figures["micro_compactions"] > 0
    assert figures["compaction_api_calls"] == figures["auto_compactions"]
