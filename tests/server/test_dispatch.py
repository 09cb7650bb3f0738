# -*- test-case-name: tests.server.test_dispatch -*-
"""Tests for ``bws.server._dispatch``."""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from bws.config import WSServiceConfig
from bws.server import _dispatch
from bws.server._dispatch import (
    DISPATCHER_VALUE_ATTRIBUTE,
    SPECIAL_METHODS,
    ClassShape,
    ServiceMethods,
    dispatcherTable,
    dispatcherValue,
    dispatchingValue,
    findDispatchMethod,
    methodNameFor,
)


class MethodNameTests(SynchronousTestCase):
    """``methodNameFor``, the spec's name conversion."""

    def test_table(self) -> None:
        """The examples of the spec convert as the reference implementation converts them."""
        table = {
            "ping": "onPing",
            "Messages": "onMessages",
            "_ping": "onPing",
            "this_ping message": "onThisPingMessage",
            "connection_init": "onConnectionInit",
            "un subscribe": "onUnSubscribe",
            "heartBeat": "onHeartbeat",
        }
        for value, name in table.items():
            self.assertEqual(methodNameFor(value), name, value)

    def test_separatorRuns(self) -> None:
        """Runs of separators, and separators at the ends, make no empty words."""
        self.assertEqual(methodNameFor("--a__b  c--"), "onABC")

    def test_laterWordsLowered(self) -> None:
        """Later words keep only their first letter upper-cased."""
        self.assertEqual(methodNameFor("SUBSCRIBE NOW"), "onSubscribeNow")

    def test_empty(self) -> None:
        """An empty value gives the bare ``on``."""
        self.assertEqual(methodNameFor(""), "on")


class Chat:
    """A service with dispatcher values."""

    @dispatcherValue("subscribe")
    def onSubscribeMessage(self, caller: Any, data: Any) -> None:
        pass

    @dispatcherValue("complete")
    def onDone(self, caller: Any, data: Any) -> None:
        pass

    def onHeartbeat(self, caller: Any, data: Any) -> None:
        pass

    def onPing(self, caller: Any, data: Any) -> None:
        pass

    def onClose(self, caller: Any, statusCode: int, reason: str) -> None:
        pass

    def onBinaryMessage(self, caller: Any, data: bytes) -> None:
        pass


class DispatcherValueTests(SynchronousTestCase):
    """The ``dispatcherValue`` decorator and ``dispatcherTable``."""

    def test_marks(self) -> None:
        """The decorator sets its value on the function and returns the function itself."""

        def onThing(self: Any, caller: Any, data: Any) -> None:
            pass

        self.assertIs(dispatcherValue("thing")(onThing), onThing)
        self.assertEqual(getattr(onThing, DISPATCHER_VALUE_ATTRIBUTE), "thing")

    def test_specialMethodsRefused(self) -> None:
        """Decorating any special method raises at decoration time, naming the method."""
        for name in SPECIAL_METHODS:

            def method(self: Any) -> None:
                pass

            method.__name__ = name
            error = self.assertRaises(TypeError, dispatcherValue("x"), method)
            self.assertIn(name, str(error))

    def test_specialMethodInClassBody(self) -> None:
        """Using it on a special method fails while the class is being defined."""

        def define() -> None:
            class Bad:
                @dispatcherValue("open")
                def onOpen(self, caller: Any) -> None:
                    pass

        self.assertRaises(TypeError, define)

    def test_valueMustBeStr(self) -> None:
        """A value that is not a ``str`` is refused."""
        self.assertRaises(TypeError, dispatcherValue, 1)

    def test_table(self) -> None:
        """The table maps each value to the name of its method."""
        self.assertEqual(
            dispatcherTable(Chat), {"subscribe": "onSubscribeMessage", "complete": "onDone"}
        )

    def test_tableOfInstance(self) -> None:
        """An instance gives its class's table."""
        self.assertEqual(dispatcherTable(Chat()), dispatcherTable(Chat))

    def test_tableIsACopy(self) -> None:
        """Changing a returned table does not change later ones."""
        dispatcherTable(Chat)["extra"] = "onExtra"
        self.assertNotIn("extra", dispatcherTable(Chat))

    def test_inherited(self) -> None:
        """Marks of inherited methods count; an override without the mark drops it."""

        class Sub(Chat):
            def onDone(self, caller: Any, data: Any) -> None:
                pass

        self.assertEqual(dispatcherTable(Sub), {"subscribe": "onSubscribeMessage"})

    def test_duplicate(self) -> None:
        """Two methods with the same value are refused with both names in the message."""

        class Twice:
            @dispatcherValue("same")
            def onA(self, caller: Any, data: Any) -> None:
                pass

            @dispatcherValue("same")
            def onB(self, caller: Any, data: Any) -> None:
                pass

        error = self.assertRaises(TypeError, dispatcherTable, Twice)
        self.assertIn("onA", str(error))
        self.assertIn("onB", str(error))
        self.assertIn("'same'", str(error))

    def test_markedSpecialMethodInTable(self) -> None:
        """A special method marked by hand is refused when the table is built."""

        class Sneaky:
            def onOpen(self, caller: Any) -> None:
                pass

            setattr(onOpen, DISPATCHER_VALUE_ATTRIBUTE, "open")  # noqa: B010

        self.assertRaises(TypeError, dispatcherTable, Sneaky)


class DispatchingValueTests(SynchronousTestCase):
    """``dispatchingValue``, reading the key from JSON text."""

    def test_found(self) -> None:
        """The string at the key of a JSON object is the value."""
        self.assertEqual(dispatchingValue('{"event": "ping", "x": 1}', "event"), "ping")

    def test_leadingWhitespace(self) -> None:
        """JSON whitespace before the object is allowed."""
        self.assertEqual(dispatchingValue(' \n\t{"type":"subscribe"}', "type"), "subscribe")

    def test_bytes(self) -> None:
        """The UTF-8 bytes of the text work too."""
        self.assertEqual(dispatchingValue(b'{"type":"s\xc3\xa9"}', "type"), "sé")

    def test_notJson(self) -> None:
        """Text that is not JSON has no value."""
        self.assertIsNone(dispatchingValue("hello", "type"))
        self.assertIsNone(dispatchingValue('{"type": ', "type"))
        self.assertIsNone(dispatchingValue(b'{"type": "\xff"}', "type"))

    def test_notObject(self) -> None:
        """A JSON array, string or number has no value."""
        self.assertIsNone(dispatchingValue('[{"type": "a"}]', "type"))
        self.assertIsNone(dispatchingValue('"type"', "type"))
        self.assertIsNone(dispatchingValue("1", "type"))

    def test_notString(self) -> None:
        """A key holding something other than a string gives no value."""
        self.assertIsNone(dispatchingValue('{"type": 1}', "type"))
        self.assertIsNone(dispatchingValue('{"type": null}', "type"))
        self.assertIsNone(dispatchingValue('{"type": {"a": "b"}}', "type"))

    def test_missingKey(self) -> None:
        """An object without the key gives no value."""
        self.assertIsNone(dispatchingValue('{"kind": "a"}', "type"))

    def test_plainTextNotParsed(self) -> None:
        """Text that does not start with ``{`` is not handed to the JSON parser."""

        class NoParse:
            @staticmethod
            def loads(text: Any) -> Any:
                raise AssertionError("parsed")

        self.patch(_dispatch, "json", NoParse)
        self.assertIsNone(dispatchingValue("just some chat text", "type"))
        self.assertIsNone(dispatchingValue(b"[1, 2]", "type"))

    def test_deepNesting(self) -> None:
        """Nesting too deep for the parser gives no value instead of an error."""
        self.assertIsNone(dispatchingValue('{"a":' * 100000, "type"))


class FindDispatchMethodTests(SynchronousTestCase):
    """``findDispatchMethod``, steps 1 and 2 of the lookup."""

    def test_annotatedFirst(self) -> None:
        """The method marked with the value wins."""
        self.assertEqual(findDispatchMethod(Chat(), "subscribe"), "onSubscribeMessage")
        self.assertEqual(findDispatchMethod(Chat(), "complete"), "onDone")

    def test_derivedName(self) -> None:
        """Without a mark, the derived name is used when the service has that method."""
        self.assertEqual(findDispatchMethod(Chat(), "heartBeat"), "onHeartbeat")
        self.assertEqual(findDispatchMethod(Chat(), "ping"), "onPing")

    def test_missing(self) -> None:
        """A value with neither a mark nor a method finds nothing."""
        self.assertIsNone(findDispatchMethod(Chat(), "unknown"))

    def test_notTextHandlers(self) -> None:
        """A derived name never selects a method that does not take text messages."""
        self.assertIsNone(findDispatchMethod(Chat(), "close"))
        self.assertIsNone(findDispatchMethod(Chat(), "binary message"))

    def test_givenTable(self) -> None:
        """A table passed in is used instead of the service's own."""
        self.assertEqual(findDispatchMethod(Chat(), "x", {"x": "onDone"}), "onDone")


class ChatWithText(Chat):
    """``Chat`` with a plain text callback for messages the lookup does not place."""

    def onTextMessage(self, caller: Any, text: str) -> None:
        pass


class TextRouteTests(SynchronousTestCase):
    """``ServiceMethods.textRoute``: connections route by the same lookup."""

    def test_sameLookup(self) -> None:
        """Each dispatching value reaches the method ``findDispatchMethod`` names, else the
        plain text callback."""
        service = ChatWithText()
        methods = ServiceMethods(service, object(), WSServiceConfig(dispatcherKey="type"))
        for value in ("subscribe", "complete", "heartBeat", "ping", "close", "unknown"):
            route = methods.textRoute(json.dumps({"type": value}).encode("utf-8"))
            name = findDispatchMethod(service, value)
            if name is None:
                self.assertEqual(route, methods.plainText, value)
            else:
                assert route is not None
                self.assertIs(route[0], methods.bind(name), value)

    def test_notJson(self) -> None:
        """Text that is not a JSON object goes to the plain text callback."""
        methods = ServiceMethods(ChatWithText(), object(), WSServiceConfig(dispatcherKey="type"))
        self.assertEqual(methods.textRoute(b"hello"), methods.plainText)


class DataParameterTests(SynchronousTestCase):
    """Which parameter takes the data, and the converter built for its type."""

    def test_afterCaller(self) -> None:
        """The parameter after the caller is the data, even with more parameters after it."""

        class Service:
            def onThing(self, caller: Any, data: int, extra: str = "") -> None:
                pass

        shape = ClassShape.of(Service, validation=True, dispatching=True)
        self.assertEqual(shape.methods["onThing"].dataParameter, "data")
        binder = shape.binderFor("onThing", False)
        assert binder is not None
        self.assertEqual(binder("5"), 5)

    def test_withoutCaller(self) -> None:
        """A callback may leave out the caller; its only parameter is the data."""

        class Service:
            def onTextMessage(self, text: str) -> None:
                pass

        shape = ClassShape.of(Service, validation=True, dispatching=False)
        self.assertFalse(shape.methods["onTextMessage"].takesCaller)
        self.assertEqual(shape.methods["onTextMessage"].dataParameter, "text")
        self.assertIsNone(shape.binderFor("onTextMessage", False))

    def test_rawData(self) -> None:
        """``str`` for text, ``bytes`` for binary, or no annotation need no converter."""

        class Service:
            def onMessage(self, caller: Any, data) -> None:
                pass

            def onBinaryMessage(self, caller: Any, data: bytes) -> None:
                pass

        shape = ClassShape.of(Service, validation=True, dispatching=False)
        self.assertIsNone(shape.binderFor("onMessage", False))
        self.assertIsNone(shape.binderFor("onMessage", True))
        self.assertIsNone(shape.binderFor("onBinaryMessage", True))


class PublicModuleTests(SynchronousTestCase):
    """``bws.dispatchkey`` (documented for integrators) is the lookup the server runs."""

    def test_sameObjects(self) -> None:
        """Each public name is the running implementation's object, not a copy."""
        import bws.dispatchkey
        from bws.server import _dispatch

        for name in bws.dispatchkey.__all__:
            self.assertIs(getattr(bws.dispatchkey, name), getattr(_dispatch, name))
