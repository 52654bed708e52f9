# Live terminal views (`--format live`): view state kept by pure reducers (`state`,
# `account_state`), one rich renderable per view, dashboards that place them, and `app`,
# which runs the connections in a thread and redraws. Only imported in live mode: the
# jsonl and raw outputs must never pay for rich.
