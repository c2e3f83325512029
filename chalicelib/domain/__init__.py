"""Pure domain: no I/O, no AWS. Everything here is deterministic given its inputs."""
