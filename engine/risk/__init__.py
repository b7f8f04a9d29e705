"""Risk: pre-trade checks, the kill switch and the gauges the desk shows."""
