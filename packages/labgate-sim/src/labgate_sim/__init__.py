"""Simulated partner systems — an external LIMS and an MES — that talk to labgate over its real
channels (REST, AMQP, MQTT, file packs) and misbehave on demand (see `faults`)."""
