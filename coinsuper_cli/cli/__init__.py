"""The command layer: Click commands (main.py and one module per command family), what a
streaming command does without Click (core.py), the config file (config.py) and shell
completion. The only layer that may import every other."""
