"""onetap's trading engine: everything that decides, persists and trades, with no UI."""
