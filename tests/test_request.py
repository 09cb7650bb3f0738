"""Tests for ``bws.request``: the upgrade request and response heads share one set of
header look-ups."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bws.request import HeaderPairs, HttpResponse, UpgradeRequest

PAIRS = (("host", "example.com"), ("x-tag", "a"), ("cookie", "s=1"), ("x-tag", "b"))


def request(pairs: tuple[tuple[str, str], ...] = PAIRS) -> UpgradeRequest:
    """An upgrade request with header ``pairs`` (names lower-cased, as twisted.web gives)."""
    return UpgradeRequest("GET", "/ws?a=1", "/ws", pairs, ("127.0.0.1", 5000), False)


def response(pairs: tuple[tuple[str, str], ...] = PAIRS) -> HttpResponse:
    """A 101 answer with header ``pairs``."""
    return HttpResponse(101, "Switching Protocols", pairs)


class HeaderPairsTests(SynchronousTestCase):
    """``UpgradeRequest`` and ``HttpResponse`` answer header questions the same way."""

    def test_shared(self) -> None:
        """Both take their look-ups from ``HeaderPairs``."""
        self.assertIsInstance(request(), HeaderPairs)
        self.assertIsInstance(response(), HeaderPairs)
        self.assertIs(UpgradeRequest.getHeader, HttpResponse.getHeader)

    def test_sameAnswers(self) -> None:
        """The same pairs give the same ``headerValues``, ``getHeader`` and ``getHeaders``."""
        for head in (request(), response()):
            self.assertEqual(head.headerValues(), {"host": ["example.com"],
                                                   "x-tag": ["a", "b"], "cookie": ["s=1"]})
            self.assertEqual(head.getHeader("X-Tag"), "a")
            self.assertEqual(head.getHeaders("X-TAG"), ["a", "b"])
            self.assertIsNone(head.getHeader("missing"))
            self.assertEqual(head.getHeaders("missing"), [])

    def test_anyCaseNames(self) -> None:
        """Names as the server sent them match in any case; ``headers`` keys are lower-case."""
        head = HttpResponse.parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  b"Sec-WebSocket-Protocol: chat\r\n\r\n")
        self.assertEqual(head.headerPairs, (("Upgrade", "websocket"),
                                            ("Sec-WebSocket-Protocol", "chat")))
        self.assertEqual(head.getHeader("sec-websocket-protocol"), "chat")
        self.assertEqual(head.headers, {"upgrade": "websocket",
                                        "sec-websocket-protocol": "chat"})

    def test_headersShapes(self) -> None:
        """``UpgradeRequest.headers`` keeps every value as a list; ``HttpResponse.headers``
        joins a repeated header's values with ", ", as it always has."""
        self.assertEqual(request().headers["x-tag"], ["a", "b"])
        self.assertEqual(response().headers["x-tag"], "a, b")

    def test_requestPairsInOrder(self) -> None:
        """The request gives back its pairs in arrival order (kept as one string)."""
        self.assertEqual(request().headerPairs, list(PAIRS))
        self.assertEqual(request(()).headerPairs, [])

    def test_cookiesPerSide(self) -> None:
        """The request's ``cookies`` come from ``Cookie``, the response's from
        ``Set-Cookie``."""
        self.assertEqual(request().cookies, {"s": "1"})
        answer = response((("Set-Cookie", "sid=42; Path=/"), ("Set-Cookie", 'b="2"')))
        self.assertEqual(answer.cookies, {"sid": "42", "b": "2"})


class HttpResponseParseTests(SynchronousTestCase):
    """``HttpResponse.parse`` of a raw response head."""

    def test_statusAndReason(self) -> None:
        """The status line gives code and reason phrase."""
        head = HttpResponse.parse(b"HTTP/1.1 403 Forbidden Here\r\n\r\n")
        self.assertEqual((head.statusCode, head.reasonPhrase, head.headerPairs),
                         (403, "Forbidden Here", ()))

    def test_garbage(self) -> None:
        """A status line without a numeric code gives 0; lines without a colon are skipped."""
        head = HttpResponse.parse(b"nonsense\r\nno colon here\r\nA: b\r\n")
        self.assertEqual((head.statusCode, head.reasonPhrase, head.headerPairs),
                         (0, "", (("A", "b"),)))
