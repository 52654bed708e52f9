"""The exchange's real-time API as coinsuper knows it, with no I/O: its facts (topics,
markets, sign-in values: exchange.py), the typed records its pushes become (records.py),
the payload parsers (payloads.py, trades.py), the channel registry that ties them
together (channels.py), and the pump from messages to records to a sink (stream.py).
Everything above reads the exchange through here; nothing here imports a layer above."""
