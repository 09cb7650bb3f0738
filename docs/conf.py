"""Sphinx configuration for the bws documentation."""

project = "bws"
author = "the bws team"
copyright = "2026, the bws team"
extensions: list[str] = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
