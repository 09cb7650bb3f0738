"""Tests for ``bws.client``'s logic cores, in memory on a Clock."""
