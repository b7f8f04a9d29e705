"""Strategy templates and the card source that turns their signals into strategy cards."""
