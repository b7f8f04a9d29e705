"""``python -m engine.brokers.tws_sim --port 7497``."""

from engine.brokers.tws_sim.cli import main

raise SystemExit(main())
