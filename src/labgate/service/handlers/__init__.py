"""One module per group of use cases; HANDLERS in labgate.service.messagebus is the table."""
