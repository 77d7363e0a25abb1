"""Binance USDⓈ-M (``binanceusdm``) and COIN-M (``binancecoinm``) futures through ccxt: the venue port.

``caps`` is plain data (limits, client-id rule, error codes, endpoints); ``parse`` turns
Binance's JSON into domain objects and back; ``adapter`` drives ccxt's signed endpoints.
"""
