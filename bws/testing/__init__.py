"""Helpers for testing bws services with trial, and bws's conformance agents."""
