# -*- test-case-name: tests.test_client -*-
"""The WebSocket client (spec §4): :class:`Client`, and what it is made of.

The implementation lives in private modules: ``_client`` (the ``Client`` object, URLs,
cookies), ``_inbox`` (queued messages and pending reads), ``_retry`` (reconnecting) and
``_attempt`` (one connection attempt: the handshake, then the connection's events).
"""

from bws.client._client import Client, Target, cookieHeader, parseUrl
from bws.request import HttpResponse

__all__ = ["Client", "HttpResponse", "Target", "parseUrl", "cookieHeader"]
