"""Exchange adapters: everything that speaks HTTP to a venue lives under here.

Each implements the port :class:`qlib_local.live.venue.Venue`; ``registry`` picks one by the
account's ``exchange`` (``okx``, ``binanceusdm``, ``binancecoinm``).
"""
