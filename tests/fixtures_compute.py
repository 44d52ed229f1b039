"""Fixtures for the fake Compute Engine API."""
