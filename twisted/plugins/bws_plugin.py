"""The ``twistd bws`` plugin: kept import-light so ``twistd --help`` never breaks."""

from twisted.application.service import ServiceMaker

bws = ServiceMaker(
    "bws",
    "bws.tap",
    "A WebSocket server (Ballerina WebSocket spec): echo by default, or --service.",
    "bws",
)
