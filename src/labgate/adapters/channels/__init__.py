"""Channels: the transports labgate talks over (REST webhooks, AMQP, MQTT, file packs)."""
