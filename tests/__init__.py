"""bws's trial suite; its layout mirrors the package.

- ``tests/test_*.py``: leaves and entry points (binding, close frames, twistd, packaging, the
  import rule in ``test_layers``, the public surface in ``test_exports``);
- ``tests/server``, ``tests/client``, ``tests/tls``: logic in memory, on a
  ``MemoryReactorClock`` (``bws.testing``, ``twisted.test.iosim``, ``tests.helpers.RawPeer``),
  as ``SynchronousTestCase``s;
- ``tests/integration``: real sockets, ``websockets`` peers, raw hostile peers, TLS handshakes,
  threads and processes, waiting on Deferreds the code fires, never on the wall clock.

``python -m twisted.trial -j4 --random=0 tests`` runs it in parallel, in random order.
"""
