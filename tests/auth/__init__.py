"""Tests for ``bws.auth``: the listener rules, each credentials store, the client header."""
