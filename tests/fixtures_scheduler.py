"""Fixtures for the fake Cloud Scheduler API."""
