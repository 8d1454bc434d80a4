"""Test doubles that speak the real wire formats: a fake Messages API and recorded replays."""
