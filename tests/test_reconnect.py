"""The reconnect rule (reconnect.py) as a plain function of time and outcomes: the
delays, their jitter, attempts in a row and their reset, --retries, and the
first-connection rule that the runner and the relay's publisher share. No socket, no
clock, no sleep: each case is a list of losses in, decisions out."""
from __future__ import annotations

import dataclasses
import random

import pytest

from coinsuper_cli.errors import ConnectFailed, ExitStatus, SignInRefused, exit_status
from coinsuper_cli.net.reconnect import (NEVER_CONNECTED, RETRIES_SPENT, GiveUp, Lost,
                                         Reconnect, ReconnectPolicy, ReconnectState)

TOP = dict(uniform=lambda low, high: high)  # the jitter at the top of each step
BOTTOM = dict(uniform=lambda low, high: low)
# How a connection can end: it never got going (refused, hung up before its SUBACK or
# CONNACK), got going and carried nothing, or carried messages before it was lost.
FAILED, EMPTY, GOOD = Lost(), Lost(got_going=True), Lost(got_going=True, carried=True)


def timeline(policy: ReconnectPolicy, losses, *, start: float = 1000.0,
             lasting: float = 10.0) -> list:
    """The decision after each loss, the first at `start`; each reconnection is made
    at its decision's time and lasts `lasting` seconds (0 for one that never got
    going). Stops at the first GiveUp."""
    state, now, decisions = ReconnectState(), start, []
    for lost in losses:
        state, decision = policy.after(state, lost, now)
        decisions.append(decision)
        if isinstance(decision, GiveUp):
            break
        now = decision.at + (lasting if lost.got_going else 0.0)
    return decisions


def delays(decisions) -> list[float]:
    return [d.delay for d in decisions if isinstance(d, Reconnect)]


def test_backoff_doubles_from_half_a_second_to_thirty_with_jitter():
    low = [ReconnectPolicy(**BOTTOM).delay(n) for n in range(1, 12)]
    high = [ReconnectPolicy(**TOP).delay(n) for n in range(1, 12)]
    assert high[:7] == [0.5, 1, 2, 4, 8, 16, 30]
    assert high[7:] == [30] * 4 and low[0] == 0.25 and low[-1] == 15
    assert ReconnectPolicy(**TOP).delay(10_000) == 30


def test_the_steps_and_the_cap_are_the_policys():
    policy = ReconnectPolicy(first=2.0, cap=5.0, **TOP)
    assert [policy.delay(n) for n in range(1, 6)] == [2, 4, 5, 5, 5]


def test_jitter_stays_in_the_upper_half_of_each_step_and_spreads_over_it():
    policy = ReconnectPolicy(uniform=random.Random(21).uniform)
    for attempt in range(1, 10):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        drawn = [policy.delay(attempt) for _ in range(2000)]
        assert all(ceiling / 2 <= d <= ceiling for d in drawn)
        # Spread over the half, not one value: clients cut off together scatter.
        assert min(drawn) < 0.55 * ceiling and max(drawn) > 0.95 * ceiling


def test_the_jitter_is_asked_for_the_bounds_of_the_step():
    asked = []
    policy = ReconnectPolicy(uniform=lambda low, high: asked.append((low, high)) or low)
    timeline(policy, [EMPTY, FAILED, FAILED, FAILED])
    assert asked == [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]


def test_failures_in_a_row_back_off_further_and_the_time_is_the_loss_plus_the_delay():
    decisions = timeline(ReconnectPolicy(**TOP), [EMPTY] + [FAILED] * 8, start=50.0)
    assert [d.attempt for d in decisions] == list(range(1, 10))
    assert delays(decisions) == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert decisions[0].at == 50.5 and decisions[1].at == 50.5 + 10 + 1
    # Only the caller's `now` is time to the policy: any epoch will do.
    _, far = ReconnectPolicy(**TOP).after(ReconnectState(connected=True), FAILED, 1e9)
    assert far.at == 1e9 + 0.5


def test_a_connection_that_carried_messages_starts_the_count_again():
    decisions = timeline(ReconnectPolicy(retries=2, **TOP),
                         [GOOD, FAILED, GOOD, FAILED, GOOD, GOOD, FAILED, FAILED])
    assert [d.attempt for d in decisions[:-1]] == [1, 2, 1, 2, 1, 1, 2]
    assert delays(decisions) == [0.5, 1, 0.5, 1, 0.5, 0.5, 1]
    assert decisions[-1] == GiveUp(RETRIES_SPENT, 2)


def test_one_that_got_going_but_carried_nothing_counts_as_a_failure_in_a_row():
    # A broker that accepts, subscribes and drops the link at once must not be
    # hammered every half second, nor escape --retries.
    decisions = timeline(ReconnectPolicy(retries=3, **TOP), [EMPTY] * 5)
    assert delays(decisions) == [0.5, 1, 2]
    assert decisions[-1] == GiveUp(RETRIES_SPENT, 3)


def test_retries_0_gives_up_at_the_first_loss():
    assert timeline(ReconnectPolicy(retries=0, **TOP), [GOOD]) == \
        [GiveUp(RETRIES_SPENT, 0)]


@pytest.mark.parametrize("retries", [1, 2, 5])
def test_retries_n_makes_n_attempts_then_gives_up(retries):
    decisions = timeline(ReconnectPolicy(retries=retries, **TOP), [GOOD] + [FAILED] * 10)
    assert len(delays(decisions)) == retries
    assert decisions[-1] == GiveUp(RETRIES_SPENT, retries)


def test_without_retries_it_never_gives_up_and_never_waits_past_the_cap():
    decisions = timeline(ReconnectPolicy(**TOP), [GOOD] + [FAILED] * 1000)
    assert len(decisions) == 1001 and all(isinstance(d, Reconnect) for d in decisions)
    assert max(delays(decisions)) == 30 and decisions[-1].attempt == 1001


def test_a_first_connection_that_fails_gives_up_at_once():
    # The streaming commands' rule: the runner raises the ConnectFailed it got, exit 4;
    # a refused sign-in (exit 3) or subscription (exit 5) never reaches the policy.
    # The relay's publisher asks the same policy, its CONNACK the point of getting
    # going, and hands the relay ConnectFailed "relay target: ..." (exit 4), or the
    # SignInRefused itself (exit 3).
    for retries in (None, 0, 3):
        state = ReconnectState()
        after, decision = ReconnectPolicy(retries=retries, **TOP).after(state, FAILED, 0.0)
        assert decision == GiveUp(NEVER_CONNECTED, retries) and after == state
    assert exit_status(ConnectFailed("x")) == ExitStatus.CONNECTION_FAILED == 4
    assert exit_status(SignInRefused("x")) == ExitStatus.SIGN_IN_REFUSED == 3


def test_the_first_connection_rule_holds_only_until_one_connection_got_going():
    # Once connected, a broker that is down for a while is waited for.
    decisions = timeline(ReconnectPolicy(**TOP), [EMPTY, FAILED, FAILED, FAILED])
    assert all(isinstance(d, Reconnect) for d in decisions)
    # Nor does the first connection count as one that got going once it has failed.
    assert timeline(ReconnectPolicy(**TOP), [FAILED, GOOD]) == [GiveUp(NEVER_CONNECTED)]


def test_without_the_first_connection_rule_a_failing_start_is_retried_within_retries():
    decisions = timeline(ReconnectPolicy(retries=2, first_failure_final=False, **TOP),
                         [FAILED] * 4)
    assert delays(decisions) == [0.5, 1] and decisions[-1] == GiveUp(RETRIES_SPENT, 2)


def test_a_policy_and_its_state_are_values():
    policy = ReconnectPolicy(retries=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.retries = 4
    # The jitter source is not part of what the rule is.
    assert policy == ReconnectPolicy(retries=3, **TOP) != ReconnectPolicy(retries=4)
    # Asking does not change what was asked with: the same question, the same answer.
    state = ReconnectState(attempt=2, connected=True)
    once = ReconnectPolicy(retries=3, **TOP).after(state, FAILED, 7.0)
    assert once == ReconnectPolicy(retries=3, **TOP).after(state, FAILED, 7.0)
    assert state == ReconnectState(attempt=2, connected=True)
    assert once == (ReconnectState(3, True), Reconnect(3, 2.0, 9.0))
