"""The order manager: write-ahead persistence, the order state machine, broker reports."""
