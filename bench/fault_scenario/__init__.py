"""Faults between real parts of the local stack (toxiproxy), for fault tests and scenarios."""
