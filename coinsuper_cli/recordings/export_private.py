# The account's own tables of `coinsuper export --private`: fills, orders and balances.
# tardis has no such types, so these follow its conventions (exchange, symbol, timestamp,
# local_timestamp in microseconds, then the values as the exchange sent them) without
# claiming a tardis name. Balances are per currency: the file name's symbol is the
# currency (coinsuper_balances_2026-12-03_BTC.csv.gz). Text the exchange sends (order and
# deal numbers, states) is quoted as csv quotes it, so no value can add a column or row.
from __future__ import annotations

from ..api.exchange import validate_currency
from ..api.payloads import decimal_text
from ..api.records import Asset, Fill, Order, Record
from ..errors import UsageError
from ..printable import csv_field
from .export_tables import BASE, COLUMNS, EXCHANGE

PRIVATE_COLUMNS = {
    "fills": BASE + ("id", "order_id", "order_type", "liquidity", "side", "price",
                     "amount"),
    "orders": BASE + ("id", "side", "state", "price", "amount", "amount_remaining",
                      "avg_price", "quote_amount", "quote_amount_remaining", "fee",
                      "created_timestamp"),
    "balances": ("exchange", "currency", "timestamp", "local_timestamp", "total",
                 "available"),
}
ALL_COLUMNS = {**COLUMNS, **PRIVATE_COLUMNS}
def private_rows(record: Record, local_us: str) -> list[tuple[str, str, str]]:
    """(data type, the file's symbol, csv line) for a private record; none for any
    other. ValueError for a balance whose currency is no code, which cannot name a
    file (a path, an escape sequence)."""
    if isinstance(record, Fill):
        return [("fills", record.symbol, ",".join((
            EXCHANGE, record.symbol, str(record.ts * 1000), local_us,
            csv_field(record.deal_no), csv_field(record.order_no),
            csv_field(record.order_type), csv_field(record.role), csv_field(record.side),
            decimal_text(record.price), decimal_text(record.qty))))]
    if isinstance(record, Order):
        return [("orders", record.symbol, ",".join((
            EXCHANGE, record.symbol, str(record.updated * 1000), local_us,
            csv_field(record.order_no), csv_field(record.side), csv_field(record.state),
            *map(decimal_text, (record.price, record.qty, record.qty_remaining,
                                record.avg_price, record.amount, record.amount_remaining,
                                record.fee)),
            str(record.created * 1000))))]
    if isinstance(record, Asset):
        try:
            if validate_currency(record.currency) != record.currency:
                raise ValueError
        except (UsageError, ValueError):
            raise ValueError("a balance whose currency is not a code like BTC") from None
        return [("balances", record.currency, ",".join((
            EXCHANGE, record.currency, str(record.updated * 1000), local_us,
            decimal_text(record.total), decimal_text(record.available))))]
    return []
