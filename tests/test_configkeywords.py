# -*- test-case-name: tests.test_configkeywords -*-
"""The typed keywords of the configuration records: ``**config: Unpack[...Fields]``."""

from __future__ import annotations

import os
import textwrap
from typing import Any

import attrs
from twisted.trial.unittest import SynchronousTestCase

import bws
from bws import config

try:
    from mypy import api as mypyApi
except ImportError:  # pragma: no cover - mypy is installed by the test and lint environments
    mypyApi = None  # type: ignore[assignment]

#: Each record of ``bws.config`` and the TypedDict of its keywords.
RECORDS: list[tuple[type[Any], Any]] = [
    (config.ListenerHttp1Settings, config.ListenerHttp1SettingsFields),
    (config.RequestLimitConfigs, config.RequestLimitConfigsFields),
    (config.ListenerConfiguration, config.ListenerConfigurationFields),
    (config.WSServiceConfig, config.WSServiceConfigFields),
    (config.RetryConfig, config.RetryConfigFields),
    (config.ClientConfiguration, config.ClientConfigurationFields),
]

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class KeywordsMatchRecordsTests(SynchronousTestCase):
    """A TypedDict and its record can never drift apart."""

    def test_everyRecordHasItsKeywords(self) -> None:
        """Every attrs record defined in ``bws.config`` has a TypedDict in ``RECORDS``."""
        records = {value for value in vars(config).values()
                   if attrs.has(value) and value.__module__ == config.__name__}
        self.assertEqual(records, {record for record, _ in RECORDS})

    def test_keysAreFieldNames(self) -> None:
        """Each TypedDict's keys are exactly its record's field names, all optional."""
        for record, keywords in RECORDS:
            names = {field.name for field in attrs.fields(record)}
            self.assertEqual(set(keywords.__annotations__), names, record.__name__)
            self.assertEqual(set(keywords.__optional_keys__), names, record.__name__)
            self.assertEqual(keywords.__name__, record.__name__ + "Fields")


class ServiceConfigRuntimeTests(SynchronousTestCase):
    """``serviceConfig`` refuses a misspelt field the way the other records do."""

    def test_unknownField(self) -> None:
        """``serviceConfig(idleTimeot=3)`` raises ``ConfigurationError`` naming the record,
        the unknown field and the known ones: the message of ``Fields.build``."""
        error = self.assertRaises(bws.ConfigurationError, bws.serviceConfig,
                                  idleTimeot=3)  # type: ignore[call-arg]
        self.assertIn("WSServiceConfig: unknown field(s) idleTimeot; known: ", str(error))
        self.assertIn("idleTimeout", str(error))
        clientError = self.assertRaises(bws.ConfigurationError, config.build,
                                        config.ClientConfiguration, {"readTimout": 5})
        self.assertEqual(str(clientError).split(";")[0],
                         "ClientConfiguration: unknown field(s) readTimout")

    def test_badValue(self) -> None:
        """A wrong value still names the field."""
        error = self.assertRaises(bws.ConfigurationError, bws.serviceConfig, idleTimeout=-1)
        self.assertIn("WSServiceConfig.idleTimeout", str(error))

    def test_attaches(self) -> None:
        """Right keywords build the record and attach it to the class."""
        @bws.serviceConfig(subProtocols="chat", idleTimeout=3)
        class Service:
            pass

        self.assertEqual(config.serviceConfigOf(Service),
                         bws.WSServiceConfig(subProtocols=("chat",), idleTimeout=3.0))


#: Calls with a misspelt keyword: mypy must refuse each, on its own line.
MISSPELT = """\
    from bws import Client, Listener, serviceConfig
    from bws.sync import Client as SyncClient
    from bws.testing import MemoryListener, connect

    def calls(service: object) -> None:
        Client.connect("ws://localhost:9090/", readTimout=5)
        SyncClient("ws://localhost:9090/", readTimout=5)
        Listener(9090, timout=5)
        serviceConfig(idleTimeot=3)
        connect(service, "/", readTimout=5)
        MemoryListener(timout=5).connect("/", readTimout=5)
        Listener(9090, requestLimits={"maxUriLenght": 10})
        Client.connect("ws://localhost:9090/", retryConfig={"maxcount": 3})
"""

#: The same calls, spelt right and with wrong types where mypy must also refuse.
WELL_SPELT = """\
    from bws import Client, Listener, RetryConfig, serviceConfig
    from bws.sync import Client as SyncClient
    from bws.testing import MemoryListener, connect

    def calls(service: object) -> None:
        Client.connect("ws://localhost:9090/", readTimeout=5, subProtocols=["chat"])
        SyncClient("ws://localhost:9090/", readTimeout=2.5, customHeaders={"X-A": "b"})
        Listener(9090, timeout=5, host="127.0.0.1")
        serviceConfig(idleTimeout=3, subProtocols="chat")
        connect(service, "/", readTimeout=5, listenerConfig={"timeout": 3})
        MemoryListener(timeout=5).connect("/", readTimeout=5)
        Listener(9090, requestLimits={"maxUriLength": 10})
        Client.connect("ws://localhost:9090/", retryConfig=RetryConfig(maxCount=3))
        Client.connect("ws://localhost:9090/", retryConfig={"maxCount": 3})
        Client.connect("ws://localhost:9090/", readTimeout="5")
"""


class MypyChecksKeywordsTests(SynchronousTestCase):
    """mypy refuses a misspelt configuration keyword (CI installs mypy)."""

    #: ``{snippet name: its error lines}``, from one mypy run shared by the tests.
    errors: dict[str, list[str]] | None = None

    def setUp(self) -> None:
        if mypyApi is None:
            raise self.skipTest("mypy is not installed (pip install mypy)")
        if MypyChecksKeywordsTests.errors is None:
            MypyChecksKeywordsTests.errors = self.runMypy(
                {"misspelt": MISSPELT, "wellspelt": WELL_SPELT})

    def runMypy(self, sources: dict[str, str]) -> dict[str, list[str]]:
        """The ``file:line: error:`` lines of mypy on each source, in a temporary directory,
        checked against this checkout's ``bws`` (``MYPYPATH`` comes before site-packages,
        where an installed copy may be older)."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        paths = {}
        for name, source in sources.items():
            paths[name] = os.path.join(directory, name + ".py")
            with open(paths[name], "w") as f:
                f.write(textwrap.dedent(source))
        saved = os.environ.get("MYPYPATH")
        os.environ["MYPYPATH"] = _ROOT
        try:
            stdout, stderr, status = mypyApi.run([
                "--no-incremental", "--cache-dir", os.devnull, "--config-file",
                os.path.join(_ROOT, "pyproject.toml"), "--follow-imports", "silent",
                "--show-error-codes", "--no-error-summary", *paths.values()])
        finally:
            if saved is None:
                del os.environ["MYPYPATH"]
            else:
                os.environ["MYPYPATH"] = saved
        self.assertIn(status, (0, 1), stderr)
        # mypy names the files relative to the working directory.
        return {name: [line for line in stdout.splitlines()
                       if ": error:" in line and os.path.abspath(line.split(":")[0]) == path]
                for name, path in paths.items()}

    def test_misspeltRefused(self) -> None:
        """Each misspelt keyword is an error on its line, naming the keyword (or, in a
        nested record's dict, the argument holding it)."""
        assert self.errors is not None
        errors = self.errors["misspelt"]
        lines = {int(line.split(":")[1]) for line in errors}
        self.assertEqual(lines, set(range(6, 14)), "\n".join(errors))
        # A top-level keyword is named; a nested record's dict is refused as a whole.
        for name in ("readTimout", "timout", "idleTimeot", '"requestLimits"', '"retryConfig"'):
            self.assertTrue(any(name in line for line in errors), name)

    def test_wellSpeltAccepted(self) -> None:
        """Right keywords pass; a wrong type (a ``str`` for seconds) does not."""
        assert self.errors is not None
        errors = self.errors["wellspelt"]
        self.assertEqual(len(errors), 1, "\n".join(errors))
        self.assertIn(":15: error:", errors[0])
        self.assertIn("readTimeout", errors[0])
