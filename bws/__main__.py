# -*- test-case-name: tests.test_cli -*-
"""``python -m bws``: the command-line WebSocket client (see :mod:`bws._cli`)."""

from bws._cli import main

if __name__ == "__main__":
    main()
