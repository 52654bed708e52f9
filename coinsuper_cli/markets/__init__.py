# Many markets at a glance (PRODUCT.md, "Markets board, portfolio and alerts"): the
# derived records a board is made of (a ticker per market from its day candle and its
# depth, alerts on them) and the valuation of holdings. Pure: records in, records and
# states out, time passed in.
