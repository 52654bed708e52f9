"""Output for scripts: what each record becomes as jsonl, csv, tsv or a template
(shape.py), the sinks that write it (sinks.py), the options that choose them (options.py)
and how times are read and written (times.py). The live views are live/'s."""
