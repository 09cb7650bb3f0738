"""A service for tests.integration.test_workergroups: docs/examples/chatroom.py's rooms,
whose members also say which process serves them."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from zope.interface import implementer

from bws.interfaces import ICaller, IService, IUpgradeService

_spec = importlib.util.spec_from_file_location(
    "chatroom", Path(__file__).resolve().parents[2] / "docs" / "examples" / "chatroom.py")
assert _spec is not None and _spec.loader is not None
chatroom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chatroom)


@implementer(IService)
class PidChatter(chatroom.Chatter):  # type: ignore[name-defined,misc]
    """The example's member (it joins the room and broadcasts what it hears), but the text
    ``pid?`` is answered to the asker alone with ``{"type": "pid", "pid": <its pid>}``."""

    def onTextMessage(self, caller: ICaller, text: str) -> Any:
        if text == "pid?":
            return {"type": "pid", "pid": os.getpid()}
        return super().onTextMessage(caller, text)


@implementer(IUpgradeService)
class PidRooms(chatroom.ChatRooms):  # type: ignore[name-defined,misc]
    """``chatroom.ChatRooms`` (its settings too) making :class:`PidChatter` members."""

    def get(self, request: Any, room: str, name: str = "anonymous") -> PidChatter:
        return PidChatter(room, name)
