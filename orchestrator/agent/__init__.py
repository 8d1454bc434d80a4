"""The agent loop: model turns, tool calls, retries, usage, routing, context and sub-agents."""
