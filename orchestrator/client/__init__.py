"""A Python client of `airlock serve`: sessions and execs over HTTP.

with AirlockClient("http://127.0.0.1:8700", token) as client:
    session = client.create_session(policy="dev")
    for event in client.exec(session, "make test"):
        sys.stdout.buffer.write(event.output)
    client.delete_session(session)
"""

from orchestrator.client.service_client import AirlockClient, ExecEvent, ServiceError

__all__ = ["AirlockClient", "ExecEvent", "ServiceError"]
