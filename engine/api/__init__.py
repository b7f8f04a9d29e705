"""The engine's doors: the command/event protocol and its Unix socket server, the headless
runner, and what the command line reads or does without a running engine (reports, the audit
tools, the cards on history, the offline halt, the TWS simulator). The console imports these,
the model and the config; never the engine's insides."""
