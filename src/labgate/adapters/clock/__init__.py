"""The hub's clock checked against the plant's time source."""
