"""The `airlock` command line."""

from orchestrator.cli.app import app

__all__ = ["app"]
