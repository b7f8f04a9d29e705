"""Interactive Brokers through ib_insync: the only package that imports it (an import-linter contract)."""
