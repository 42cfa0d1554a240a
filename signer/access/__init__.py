"""Who may call the sign routes, and how often: client keys, rate limits, the guard."""
