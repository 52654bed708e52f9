"""The markets board in a real terminal (tmux, 80x24): every sandbox market on screen
and moving, `s` reorders, `/` filters, Enter opens watch and Esc comes back, an alert
fires and shows, the holdings total adds up digit for digit, and it reads without
colour: arrows and words."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from test_live_terminal import Pane, watch_ready

from coinsuper_cli.api.exchange import SANDBOX_MARKETS

ROW = re.compile(r"^[> ] +([A-Z]+_[A-Z]+) +(\S+) +([▲▼ ]) ([-+]?[\d.]+)%")


def board_rows(lines: list[str]) -> dict[str, tuple[str, str]]:
    """symbol -> (last, change %) of each market line on screen with a price."""
    found = {}
    for line in lines:
        match = ROW.match(line)
        if match:
            found[match[1]] = (match[2], match[4])
    return found


def every_market(lines: list[str]) -> bool:
    return set(board_rows(lines)) == set(SANDBOX_MARKETS) and "11/11 subscribed" in lines[-1]


@pytest.fixture
def board(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # what the screen says must read without colour
    panes = []

    def start(*args: str, linger: bool = False) -> Pane:
        directory = tmp_path / f"pane{len(panes)}"  # its own status and stderr files
        directory.mkdir()
        panes.append(Pane(directory, ["markets", "--sandbox", *args], 80, 24,
                          linger=linger))
        return panes[-1]
    yield start
    for pane in panes:
        pane.close()


def test_the_board_shows_every_market_moving_sorts_filters_and_quits(board):
    pane = board()
    first = pane.wait_for(every_market, 20, "a line for every sandbox market")
    assert len(first) == 24 and all(len(line) <= 80 for line in first)
    assert first[-1].startswith(" SANDBOX ") and "sort change ▼" in first[-2]
    changes = [Decimal(change) for change in
               (board_rows(first)[s][1] for s in _order(first))]
    assert changes == sorted(changes, reverse=True)  # by day change, largest first
    pane.wait_for(lambda lines: every_market(lines) and board_rows(lines) !=
                  board_rows(first), 15, "a price or a change that moved")

    pane.send("s")  # next column: name, A to Z
    by_name = pane.wait_for(lambda lines: "sort name ▲" in lines[-2], 5, "sort by name")
    assert _order(by_name) == sorted(SANDBOX_MARKETS)
    pane.send("S")
    pane.wait_for(lambda lines: _order(lines) == sorted(SANDBOX_MARKETS, reverse=True), 5,
                  "the reverse order")

    pane.send("/", "E", "T", "H", "Enter")
    filtered = pane.wait_for(lambda lines: "filter: ETH" in lines[-2], 5, "the filter")
    assert set(_order(filtered)) == {s for s in SANDBOX_MARKETS if "ETH" in s}
    pane.send("q")
    assert pane.exit_status() == 0


def test_enter_opens_watch_of_the_selected_market_and_esc_comes_back(board):
    pane = board()
    first = pane.wait_for(every_market, 20, "the board")
    chosen = _order(first)[1]
    pane.send("j", "Enter")
    watch = pane.wait_for(lambda lines: watch_ready([line.replace(chosen, "BTC_USD")
                                                     for line in lines]), 20,
                          f"the watch screen of {chosen}")
    assert f"Book {chosen}" in "\n".join(watch) and "reconnect" not in watch[-1]
    pane.send("Escape")
    back = pane.wait_for(every_market, 10, "the board again")
    assert back[_order(back).index(chosen) + 1].startswith(">")  # still selected
    pane.send("Enter")
    pane.wait_for(lambda lines: f"Book {chosen}" in "\n".join(lines), 20, "watch again")
    pane.send("q")  # q quits from the watch screen too
    assert pane.exit_status() == 0


def test_an_alert_just_above_the_price_fires_and_is_listed(board):
    pane = board("ETH_USD")  # the rest of the board is the test of the price below
    lines = pane.wait_for(lambda lines: "ETH_USD" in board_rows(lines), 20, "ETH_USD's line")
    pane.send("q")
    pane.exit_status()
    last = Decimal(board_rows(lines)["ETH_USD"][0])
    rule = f"ETH_USD<{last + Decimal('0.5')}"  # true now: fires at the first ticker
    pane = board("ETH_USD", "--alert", rule)
    fired = pane.wait_for(lambda lines: f"alerts: {rule}" in lines[-2], 20, "the alert")
    assert any("ALERT" in line for line in fired if "ETH_USD" in line)
    pane.send("q")
    assert pane.exit_status() == 0


def test_the_holdings_total_is_the_sum_of_the_values_at_the_prices_shown(board):
    pane = board("--timeout", "8", linger=True)  # the last frame stays on the screen
    assert pane.exit_status(timeout=20) == 0
    lines = pane.screen()
    heading = next(i for i, line in enumerate(lines) if line.startswith("holdings"))
    assert "demo account" in lines[heading] and "in USD" in lines[heading]
    values = []
    for line in lines[heading + 2:]:
        if line.startswith("total"):
            total = Decimal(line.split()[1])
            break
        asset, quantity, price, value = line.split()
        exact = Decimal(quantity) * Decimal(price)
        assert Decimal(value) == exact.quantize(Decimal("0.01"), ROUND_HALF_EVEN), line
        values.append(exact)
    assert values and total == sum(values).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def _order(lines: list[str]) -> list[str]:
    return [m[1] for line in lines if (m := ROW.match(line))]


def test_a_recording_of_markets_replays_into_the_board_in_recorded_time(board, tmp_path):
    from conftest import run_coinsuper

    path = tmp_path / "markets.jsonl"
    recorded = run_coinsuper(["markets", "--sandbox", "--count", "15", "--format", "jsonl",
                              "--record", str(path)])
    assert recorded.returncode == 0, recorded.stderr
    directory = tmp_path / "replay"
    directory.mkdir()
    pane = Pane(directory, ["replay", str(path), "--markets", "--speed", "4"], 80, 24,
                linger=True)
    try:
        lines = pane.wait_for(lambda lines: len(board_rows(lines)) >= 3, 20,
                              "the replayed board")
        assert " REPLAY " in lines[-1] and "space pause" in lines[-2]
        assert not any(line.rstrip().endswith("stale") for line in lines)  # recorded time
        pane.send(" ")
        pane.wait_for(lambda lines: "REPLAY paused" in lines[-1], 5, "the pause")
        pane.send("q")
        assert pane.exit_status() == 0
    finally:
        pane.close()
