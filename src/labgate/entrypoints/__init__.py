"""The entrypoints ring: HTTP API, console and CLI; thin edges over the service layer."""
