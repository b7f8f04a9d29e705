"""Broker adapters behind one protocol; nothing outside this package knows which is connected."""
