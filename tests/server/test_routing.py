# -*- test-case-name: tests.server.test_routing -*-
"""Tests for ``bws.server._routing``: paths, templates and ``get`` parameters."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from bws.config import ConfigurationError, WSServiceConfig
from bws.request import UpgradeRequest
from bws.server._routing import CATCH_ALL, Attachment, ParamError, Router, splitPath


class Plain:
    """An upgrade service whose ``get`` takes only the request."""

    def get(self, request: Any) -> Any:
        return None


class Room:
    """An upgrade service whose ``get`` takes a path and a query parameter."""

    def get(self, request: Any, room: int, user: str) -> Any:
        return None


def attach(router: Router, service: Any, path: Any) -> Attachment:
    attachment = Attachment(service, path, WSServiceConfig())
    router.add(attachment)
    return attachment


def request(path: str, query: str = "") -> UpgradeRequest:
    return UpgradeRequest("GET", path + query, path, (), None, False)


class SplitPathTests(SynchronousTestCase):
    """``splitPath``."""

    def test_forms(self) -> None:
        """Strings and lists give decoded segments; empty segments and matrix params go."""
        self.assertEqual(splitPath("/a//b%20c/;x=1/d;y"), ("a", "b c", "d"))
        self.assertEqual(splitPath(["a/b", "c"]), ("a", "b", "c"))
        self.assertEqual(splitPath(None), ())


class RouterTests(SynchronousTestCase):
    """``Router`` and ``Attachment``."""

    def test_literalBeatsTemplate(self) -> None:
        """A literal segment wins over a template at the same depth."""
        router = Router()
        template = attach(router, Room(), "/rooms/{room}")
        literal = attach(router, Plain(), "/rooms/lobby")
        self.assertEqual(router.route("/rooms/lobby"), (literal, {}))
        self.assertEqual(router.route("/rooms/7"), (template, {"room": "7"}))

    def test_catchAllLast(self) -> None:
        """``"*"`` serves only paths no other attachment claims."""
        router = Router()
        everything = attach(router, Plain(), CATCH_ALL)
        chat = attach(router, Plain(), "/chat")
        self.assertEqual(router.route("/chat"), (chat, {}))
        self.assertEqual(router.route("/other/deep"), (everything, {}))

    def test_unrouted(self) -> None:
        """A path nobody claims routes nowhere."""
        router = Router()
        attach(router, Plain(), "/chat")
        self.assertIsNone(router.route("/chat/more"))

    def test_samePathRefused(self) -> None:
        """Two attachments at one path are refused, naming it."""
        router = Router()
        attach(router, Plain(), "/chat/")
        error = self.assertRaises(ConfigurationError, attach, router, Plain(), ["chat"])
        self.assertIn("'/chat'", str(error))

    def test_remove(self) -> None:
        """Removing returns the service's attachment; an unknown service is refused."""
        router = Router()
        service = Plain()
        attachment = attach(router, service, "/")
        self.assertIs(router.remove(service), attachment)
        self.assertIsNone(router.route("/"))
        self.assertRaises(ConfigurationError, router.remove, service)

    def test_templateWithoutParameter(self) -> None:
        """A template ``get`` cannot take is refused when attaching."""
        self.assertRaises(ConfigurationError, Attachment, Plain(), "/{room}", WSServiceConfig())


class GetSignatureTests(SynchronousTestCase):
    """``GetSignature.bind``."""

    def test_bound(self) -> None:
        """Path and query values are converted to the annotated types."""
        attachment = Attachment(Room(), "/rooms/{room}", WSServiceConfig())
        bws = request("/rooms/7", "?user=ann")
        bws.pathParams = {"room": "7"}
        self.assertEqual(attachment.signature.bind(bws), {"room": 7, "user": "ann"})

    def test_badPathValue(self) -> None:
        """A path value that does not convert is a 404."""
        attachment = Attachment(Room(), "/rooms/{room}", WSServiceConfig())
        bws = request("/rooms/x", "?user=ann")
        bws.pathParams = {"room": "x"}
        error = self.assertRaises(ParamError, attachment.signature.bind, bws)
        self.assertEqual(error.status, 404)

    def test_missingQuery(self) -> None:
        """A required query parameter that is missing is a 400 naming it."""
        attachment = Attachment(Room(), "/rooms/{room}", WSServiceConfig())
        bws = request("/rooms/7")
        bws.pathParams = {"room": "7"}
        error = self.assertRaises(ParamError, attachment.signature.bind, bws)
        self.assertEqual((error.status, str(error)), (400, "No query param value found for: user"))
