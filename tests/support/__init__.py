"""Test support: fake provider, fake clock, live servers."""
