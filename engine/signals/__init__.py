"""Indicators over numpy arrays, shared by card generation, research and live trading."""
