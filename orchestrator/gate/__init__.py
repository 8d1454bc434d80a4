"""The permission gate: trust, per-tool policy and analyzer verdicts, then confirmation."""
