"""The pure signing rules (pipai/signing.py): no app, no clock."""

from __future__ import annotations

import hashlib
import hmac

from pipai import signing

SECRET = "s3cr3t"


def test_signature_is_lowercase_hex_hmac_sha256_over_the_documented_string() -> None:
    body = b'{"reason":"superseded by tpl_grid_v2 sweep"}'
    expected = hmac.new(SECRET.encode(),
                        b"1777457700000POST/v1/backtest/jobs/bt_3c91ef/cancel" + body,
                        hashlib.sha256).hexdigest()
    got = signing.sign(SECRET, "1777457700000", "post", "/v1/backtest/jobs/bt_3c91ef/cancel", body)
    assert got == expected and got == got.lower() and len(got) == 64


def test_query_and_body_are_covered() -> None:
    base = signing.sign(SECRET, "1", "GET", "/v1/backtest/jobs?limit=10")
    assert signing.sign(SECRET, "1", "GET", "/v1/backtest/jobs?limit=11") != base
    assert signing.sign(SECRET, "1", "GET", "/v1/backtest/jobs?limit=10", b"x") != base
    assert signing.sign(SECRET, "2", "GET", "/v1/backtest/jobs?limit=10") != base
    assert signing.sign("other", "1", "GET", "/v1/backtest/jobs?limit=10") != base
    assert signing.sign(SECRET, "1", "GET", b"/v1/backtest/jobs?limit=10") == base


def test_signature_matches_only_the_exact_request() -> None:
    sig = signing.sign(SECRET, "5", "POST", "/p", b"{}")
    assert signing.signature_matches(SECRET, sig, "5", "POST", "/p", b"{}")
    assert not signing.signature_matches(SECRET, sig, "5", "POST", "/p", b"{} ")
    assert not signing.signature_matches(SECRET, sig.upper(), "5", "POST", "/p", b"{}")
    assert not signing.signature_matches(SECRET, "", "5", "POST", "/p", b"{}")
    assert not signing.signature_matches(SECRET, "é" * 64, "5", "POST", "/p", b"{}")


def test_timestamp_parsing_accepts_only_plain_milliseconds() -> None:
    assert signing.parse_timestamp("1777457700000") == 1777457700000
    for bad in ("", "-1", "1.5", "1e12", " 1", "１２", "9" * 17):
        assert signing.parse_timestamp(bad) is None


def test_window_is_5000_ms_back_and_1000_ms_ahead() -> None:
    now = 1_000_000
    assert signing.timestamp_in_window(now - 5000, now)
    assert not signing.timestamp_in_window(now - 5001, now)
    assert signing.timestamp_in_window(now + 1000, now)
    assert not signing.timestamp_in_window(now + 1001, now)
    assert signing.timestamp_in_window(now - 9000, now, window_ms=10_000)


def test_replay_guard_accepts_a_signature_once_until_it_expires() -> None:
    guard = signing.ReplayGuard()
    assert guard.first_use("a", expires_at_ms=100, now_ms=0)
    assert not guard.first_use("a", expires_at_ms=100, now_ms=50)
    assert guard.first_use("b", expires_at_ms=100, now_ms=50)
    assert guard.first_use("a", expires_at_ms=300, now_ms=101)  # expired: pruned
    assert len(guard) == 1


def test_replay_guard_is_bounded() -> None:
    guard = signing.ReplayGuard(max_entries=3)
    for n in range(10):
        assert guard.first_use(str(n), expires_at_ms=1000, now_ms=0)
    assert len(guard) == 3
    assert not guard.first_use("9", expires_at_ms=1000, now_ms=1)
