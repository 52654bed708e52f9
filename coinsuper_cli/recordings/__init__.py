"""Recordings: writing every message as received (writer.py), reading a file back
bounded in bytes (reader.py), playing it as a message source (replay.py), and exporting
it as datasets for analysis (export.py)."""
