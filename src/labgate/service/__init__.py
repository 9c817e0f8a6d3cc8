"""The service ring: one handler per use case over a unit of work, the bus, inbox and outbox."""
