"""Positions and P&L built from fills."""
