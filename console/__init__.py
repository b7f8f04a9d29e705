"""onetap's terminal console (Textual). It talks to an engine only through ``console.client``."""
