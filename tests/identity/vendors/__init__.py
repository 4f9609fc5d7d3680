"""Vendor compatibility suite: each major OpenID provider's documented token shapes, configured as
the README tells that vendor's admin."""
