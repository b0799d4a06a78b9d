"""The public partner event contract (v1): what partners receive over NATS, and how."""
