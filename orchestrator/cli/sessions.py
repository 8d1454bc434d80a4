"""The live sandbox sessions on this machine, read from the labels airlock puts on them."""

from __future__ import annotations

import time

from pydantic import BaseModel

from sandbox import labels
from sandbox.engine import engine


class SessionRow(BaseModel):
    container: str
    session: str
    image: str
    state: str
    owner_pid: str
    age_s: float
    expires_in_s: float


def list_sessions() -> list[SessionRow]:
    now = time.time()
    rows = []
    with engine() as client:
        # ignore_removed: a session that closes between the list and its inspect is gone,
        # not an error
        managed: dict[str, str | list[str] | bool] = {"label": f"{labels.MANAGED}=1"}
        for c in client.containers.list(all=True, filters=managed, ignore_removed=True):
            tags = c.labels or {}
            rows.append(
                SessionRow(
                    container=c.id,  # whole: scripts pass it to docker
                    session=tags.get(labels.SESSION, "?"),
                    image=str(c.attrs.get("Config", {}).get("Image", "?")),
                    state=c.status,
                    owner_pid=tags.get(labels.OWNER_PID, "?"),
                    age_s=round(now - float(tags.get(labels.CREATED, now)), 1),
                    expires_in_s=round(float(tags.get(labels.EXPIRES, now)) - now, 1),
                )
            )
    return rows
