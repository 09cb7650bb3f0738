"""Echo-server benchmarks: bws against raw Autobahn and ``websockets``.

Entry point: ``python -m benchmarks.run`` (see ``docs/benchmarks.rst``).
"""
