"""The REST API (FastAPI): thin edges that parse, build a command, call the bus, render."""
