"""A log observer factory for twistd's ``--logger``: every event as JSON, on standard output.

    twistd -n --pidfile= --logger json_logs.observer bws

Each record is one JSON text (RFC 7464: it starts with an RS character, 0x1e) with the
event's fields as members: ``wsEvent``, ``side``, ``id``, ``peer``, ``path``, ``code``...
"""

import sys

from twisted.logger import ILogObserver, jsonFileLogObserver


def observer() -> ILogObserver:
    return jsonFileLogObserver(sys.stdout)
