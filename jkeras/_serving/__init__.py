"""The REST server behind ``python -m jkeras.serve`` (needs ``jkeras[serve]``)."""
