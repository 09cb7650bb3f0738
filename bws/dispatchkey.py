# -*- test-case-name: tests.test_dispatchkey -*-
"""Custom dispatch of JSON text messages by a field's value (``dispatcherKey``), for
integrators: the public names of the one lookup the listener's connections run
(implemented in :mod:`bws.server._dispatch`)."""

from bws.server._dispatch import (
    DISPATCHER_VALUE_ATTRIBUTE,
    SPECIAL_METHODS,
    dispatcherTable,
    dispatcherValue,
    dispatchingValue,
    findDispatchMethod,
    methodNameFor,
)

__all__ = [
    "DISPATCHER_VALUE_ATTRIBUTE",
    "SPECIAL_METHODS",
    "methodNameFor",
    "dispatcherValue",
    "dispatcherTable",
    "dispatchingValue",
    "findDispatchMethod",
]
