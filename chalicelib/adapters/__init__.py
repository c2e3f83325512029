"""Adapters: the only code that touches AWS, files or the network."""
