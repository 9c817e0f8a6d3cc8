"""What a partner system needs to talk to labgate from outside: a signing identity, a journal,
the webhook that takes labgate's signed messages, the channels into labgate (REST, AMQP, MQTT,
file packs) and a dispatcher that retries and orders what it sends.

The REST LIMS connector is built on it, and so are the simulators (the `labgate-sim` package,
outside the product), which import it; nothing here imports them."""
