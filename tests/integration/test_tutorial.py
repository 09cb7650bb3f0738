"""docs/tutorial.rst, step by step: its ``twistd`` commands (read from the page, on free
ports) and its example programs, as a reader runs them; the last step with a real
``redis-server``. Every wait is for a line a process prints, or for its exit."""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import inlineCallbacks

from tests.integration.test_docs import (
    EXAMPLES,
    TWISTD,
    ExampleProcesses,
    consoleCommands,
    freePort,
    pageText,
)
from tests.integration.test_redisgroups import spawnWatched, startRedis

LISTENING = r"Site.* starting on|starting on \d+"


class TutorialTests(ExampleProcesses):
    """Each step of the tutorial works as the page says."""

    timeout = 120

    def commands(self) -> list[list[str]]:
        commands = consoleCommands("tutorial.rst", "twistd")
        self.assertEqual(len(commands), 4, commands)
        return commands

    def twistd(self, args: list[str], port: int, *extra: str) -> Any:
        """Start one of the page's twistd commands on ``port`` (on 127.0.0.1)."""
        return self.startServer(["-c", TWISTD, *args, "--port", str(port), "--host",
                                 "127.0.0.1", *extra], LISTENING)

    @inlineCallbacks
    def test_echo(self) -> Any:
        """Step 1: ``twistd -n --pidfile= bws`` echoes what echo_client.py sends."""
        port = freePort()
        yield self.twistd(self.commands()[0], port)
        out = yield self.runExample("echo_client.py", f"ws://127.0.0.1:{port}/")
        self.assertEqual(out, "hello\n")
        self.assertIn("$ python echo_client.py ws://127.0.0.1:9090/ hello",
                      pageText("tutorial.rst"))

    @inlineCallbacks
    def test_rooms(self) -> Any:
        """Step 3: ann and bob listen, cat says bye; ann prints what the page shows."""
        port = freePort()
        yield self.twistd(self.commands()[1], port)
        url = f"ws://127.0.0.1:{port}/rooms/lobby"
        ann: dict[str, Any] = {}
        bob: dict[str, Any] = {}
        yield self.listen(url, "ann", ann)
        yield self.listen(url, "bob", bob)
        out = yield self.runExample("chat_client.py", f"{url}?name=cat", "--say", "bye")
        self.assertEqual(out, "joined cat\nmessage cat bye\n")
        annOut = yield ann["ended"]
        self.assertEqual(annOut, "joined ann\njoined bob\njoined cat\nmessage cat bye\n")
        self.assertIn("--until bye " + " ".join(annOut.split()), pageText("tutorial.rst"))
        bobOut = yield bob["ended"]
        self.assertEqual(bobOut, "joined bob\njoined cat\nmessage cat bye\n")

    @inlineCallbacks
    def listen(self, url: str, name: str, record: dict[str, Any]) -> Any:
        """Start ``chat_client.py URL?name=NAME --until bye``; ``record["ended"]`` fires
        with its output once it exits."""
        watched, _ = spawnWatched(
            self, [sys.executable, "chat_client.py", f"{url}?name={name}", "--until", "bye"],
            str(EXAMPLES))
        record["ended"] = watched.ended.addCallback(lambda _: watched.output)
        yield watched.waitFor(rf"joined {name}\n", 0)

    @inlineCallbacks
    def test_testingStep(self) -> Any:
        """Step 4: the trial module of the page passes."""
        out = yield self.runExample("-m", "twisted.trial", "test_chatroom")
        self.assertIn("PASSED", out)

    @inlineCallbacks
    def test_brokerStep(self) -> Any:
        """Step 5: the page's two ``--broker`` processes and chatroom_program.py share the
        lobby through a real redis-server: ann on the first and bob on the program hear
        cat on the second."""
        redisPort = freePort()
        yield startRedis(self, redisPort)
        redisUrl = f"redis://127.0.0.1:{redisPort}/0"
        urls = []
        for args in self.commands()[2:]:
            self.assertEqual(args[args.index("--broker") + 1], "redis://127.0.0.1:6379/0")
            args[args.index("--broker") + 1] = redisUrl
            port = freePort()
            yield self.startServer(["-c", TWISTD, *args, "--port", str(port), "--host",
                                    "127.0.0.1"], r"group broker connected to redis://")
            urls.append(f"ws://127.0.0.1:{port}/rooms/lobby")
        line = yield self.startServer(["chatroom_program.py", "0", redisUrl],
                                      r"ws://127\.0\.0\.1:\d+")
        programUrl = line + "/rooms/lobby"
        ann: dict[str, Any] = {}
        bob: dict[str, Any] = {}
        yield self.listen(urls[0], "ann", ann)
        yield self.listen(programUrl, "bob", bob)
        out = yield self.runExample("chat_client.py", f"{urls[1]}?name=cat", "--say", "bye")
        self.assertTrue(out.endswith("message cat bye\n"), out)
        for record in (ann, bob):
            heard = yield record["ended"]
            self.assertTrue(heard.endswith("joined cat\nmessage cat bye\n"), heard)
