"""The adapters ring: the store, units, and (later) channels and codecs."""
