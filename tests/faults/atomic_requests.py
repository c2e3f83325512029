"""`AtomicRequests`: a DynamoDB client whose requests are serialised whole.

Each DynamoDB request is atomic in AWS; moto's in-process backend is not thread-safe and needs a
lock for that. Only whole requests are serialised, so every interleaving *between* requests — the
races the service must handle — stays possible. Give it to the container as its ``dynamodb``
(`Container(settings, dynamodb=AtomicRequests(client))`), so every service is built over it.
"""

from __future__ import annotations

import threading
from typing import Any

_UNLOCKED = {"get_paginator", "get_waiter", "can_paginate", "generate_presigned_url", "close"}


class AtomicRequests:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in _UNLOCKED:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call
