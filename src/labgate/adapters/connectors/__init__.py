"""Connectors: separate processes that stand between labgate and a partner system that does not
speak labgate's envelopes (an external LIMS over its own REST API), translating both ways."""
