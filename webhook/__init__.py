"""Process `webhook`: the only door from GitHub into the system (verify, record, enqueue)."""
