"""The Redis edge: the wire format and the channel that carries dispatches to workers."""
