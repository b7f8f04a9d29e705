"""Research tools: backtests, Monte Carlo simulation and tests of a strategy against luck."""
