"""Exchange adapters: everything that speaks HTTP to a venue lives under here."""
