"""The fills/fees/margin kernel: one symbol sleeve's account, bar by bar.

Input is a time-ordered list of fills for bars [i0, i1) produced by a template
kernel; each fill is either a signed quantity (grid: a resting limit order that
filled) or a target exposure in {-1, 0, 1} x equity x leverage (signal
templates: a market order at the bar's open). Per bar, in this order:

0. funding (perpetuals): every funding time t_f <= the bar's open not yet applied
   charges each open lot q x open x rate (a long pays a positive rate, a short
   receives it), kept per lot and pro-rated into its trades' `funding` and pnl
   (docs/engine.md, "Funding");
1. apply the bar's fills: cash -= qty * price + fee; fee = |qty| * price * rate,
   rate = maker (limit fills) or taker (market fills) bps of the current tier. A
   market fill (and the final close) pays slippage first: it executes at
   price * (1 + s) buying, price * (1 - s) selling, s = the slippage model's
   fraction (`_slippage`; docs/engine.md, "Slippage"); a resting limit order fills
   at its price;
2. liquidation check (isolated margin per sleeve): with q the net position and
   p the bar's adverse extreme (low if long, high if short), the sleeve is
   liquidated when equity(p) = cash + q p <= mmr |q| p. It is closed at the
   liquidation price p_liq = -cash / (q - mmr |q|) (or the open if the bar
   opened beyond it); the remaining margin goes to the insurance fund as a
   liquidation charge, so the sleeve's equity becomes exactly 0 and it trades
   no more;
3. mark to market: equity[i + 1] = cash + q * close[i].

Lots are kept per `tag` (grid cell, or 0 for signal templates) at average
entry price; a fill against a lot of the other sign closes it (partially) and
emits a trade whose fees are the pro-rated entry fees plus the exit fee. On the
final chunk every open lot is closed at the last close with a taker fill, so
sum(trade pnl) == final equity - initial equity.

State lives in small arrays owned by the caller so the kernel can be called
chunk by chunk (progress reporting and cancellation between chunks).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.timeframes import DAY_MS

# st (float64) slots
CASH, POS, LIQUIDATED, TIER_VOLUME = 0, 1, 2, 3
N_ST = 4
# st_i (int64) slots
DAY, TIER, OPEN_LOTS, NEXT_FUNDING = 0, 1, 2, 3
N_ST_I = 4
FEE_WINDOW_DAYS = 30
_RING = FEE_WINDOW_DAYS + 1  # 30 past days + today


def new_account_state(capital: float, n_tags: int) -> dict[str, np.ndarray]:
    """A sleeve's account state, in account_kernel's argument order (st ... day_volume)."""
    st = np.zeros(N_ST)
    st[CASH] = capital
    st_i = np.zeros(N_ST_I, dtype=np.int64)
    st_i[DAY] = -1
    return {
        "st": st,
        "st_i": st_i,
        "lot_qty": np.zeros(n_tags),
        "lot_price": np.zeros(n_tags),
        "lot_time": np.zeros(n_tags, dtype=np.int64),
        "lot_fee": np.zeros(n_tags),
        "lot_funding": np.zeros(n_tags),
        "day_volume": np.zeros(_RING),
    }


@njit(cache=True)
def _fee_rate(t, notional, maker, tier_volume, tier_maker, tier_taker, st, st_i, day_volume):
    day = t // DAY_MS
    if day != st_i[DAY]:
        # New UTC day: forget days older than the window, re-evaluate the tier.
        if st_i[DAY] < 0 or day - st_i[DAY] >= _RING:
            day_volume[:] = 0.0
        else:
            for d in range(st_i[DAY] + 1, day + 1):
                day_volume[d % _RING] = 0.0
        st_i[DAY] = day
        vol = 0.0
        for k in range(_RING):
            vol += day_volume[k]
        st[TIER_VOLUME] = vol
        tier = 0
        for k in range(tier_volume.shape[0]):
            if vol >= tier_volume[k]:
                tier = k
        st_i[TIER] = tier
    day_volume[day % _RING] += notional
    bps = tier_maker[st_i[TIER]] if maker else tier_taker[st_i[TIER]]
    return notional * bps * 1e-4


# slippage models (kernel codes; engine/slippage.py maps the config's names to them)
SLIP_NONE, SLIP_FIXED, SLIP_VOLUME_SHARE = 0, 1, 2


@njit(cache=True)
def _slippage(p, dq, maker, bar_volume, kind, value):
    """The executed price of a fill of dq at p: no slippage for a maker fill or model
    none; fixed: s = value; volume share: s = value * min(|dq| / bar volume, 1)^2."""
    if maker or kind == SLIP_NONE or dq == 0.0:
        return p
    if kind == SLIP_FIXED:
        s = value
    else:
        share = abs(dq) / bar_volume if bar_volume > 0.0 else 1.0
        share = min(share, 1.0)
        s = value * share * share
    return p * (1.0 + s) if dq > 0.0 else p * (1.0 - s)


@njit(cache=True)
def _record(
    tr_side,
    tr_entry,
    tr_exit,
    tr_entry_px,
    tr_exit_px,
    tr_qty,
    tr_fee,
    tr_pnl,
    tr_funding,
    nt,
    side,
    entry_t,
    exit_t,
    entry_px,
    exit_px,
    qty,
    fees,
    pnl,
    funding,
):
    tr_funding[nt] = funding
    tr_side[nt] = side
    tr_entry[nt] = entry_t
    tr_exit[nt] = exit_t
    tr_entry_px[nt] = entry_px
    tr_exit_px[nt] = exit_px
    tr_qty[nt] = qty
    tr_fee[nt] = fees
    tr_pnl[nt] = pnl
    return nt + 1


@njit(cache=True)
def _apply_fill(
    tag,
    dq,
    p,
    t,
    fee,
    st,
    st_i,
    lot_qty,
    lot_price,
    lot_time,
    lot_fee,
    lot_funding,
    tr_side,
    tr_entry,
    tr_exit,
    tr_entry_px,
    tr_exit_px,
    tr_qty,
    tr_fee,
    tr_pnl,
    tr_funding,
    nt,
):
    st[CASH] -= dq * p + fee
    st[POS] += dq
    lq = lot_qty[tag]
    if lq == 0.0 or (lq > 0.0) == (dq > 0.0):
        new_q = lq + dq
        lot_price[tag] = (lq * lot_price[tag] + dq * p) / new_q
        if lq == 0.0:
            lot_time[tag] = t
            st_i[OPEN_LOTS] += 1
        lot_fee[tag] += fee
        lot_qty[tag] = new_q
    else:
        side = 1 if lq > 0.0 else -1
        size = abs(lq)
        close_q = min(size, abs(dq))
        exit_fee = fee * close_q / abs(dq)
        entry_fee = lot_fee[tag] * close_q / size
        funding = lot_funding[tag] * close_q / size
        pnl = side * close_q * (p - lot_price[tag]) - entry_fee - exit_fee - funding
        nt = _record(
            tr_side,
            tr_entry,
            tr_exit,
            tr_entry_px,
            tr_exit_px,
            tr_qty,
            tr_fee,
            tr_pnl,
            tr_funding,
            nt,
            side,
            lot_time[tag],
            t,
            lot_price[tag],
            p,
            close_q,
            entry_fee + exit_fee,
            pnl,
            funding,
        )
        if close_q >= size:
            lot_qty[tag] = 0.0
            lot_fee[tag] = 0.0
            lot_funding[tag] = 0.0
            st_i[OPEN_LOTS] -= 1
        else:
            lot_qty[tag] = side * (size - close_q)
            lot_fee[tag] -= entry_fee
            lot_funding[tag] -= funding
        rest = abs(dq) - close_q
        if rest > 0.0:  # reversal: the remainder opens a lot on the other side
            lot_qty[tag] = -side * rest
            lot_price[tag] = p
            lot_time[tag] = t
            lot_fee[tag] = fee - exit_fee
            lot_funding[tag] = 0.0
            st_i[OPEN_LOTS] += 1
    if st_i[OPEN_LOTS] == 0:
        st[POS] = 0.0  # no float residue once flat
    return nt


@njit(cache=True)
def account_kernel(
    time_ms,
    open_,
    high,
    low,
    close,
    volume,
    tf_ms,
    i0,
    i1,
    final,
    f_bar,
    f_price,
    f_qty,
    f_is_target,
    f_maker,
    f_tag,
    leverage,
    mmr,
    slip_kind,
    slip_value,
    fund_time,
    fund_rate,
    tier_volume,
    tier_maker,
    tier_taker,
    st,
    st_i,
    lot_qty,
    lot_price,
    lot_time,
    lot_fee,
    lot_funding,
    day_volume,
    equity,
):
    """Run bars [i0, i1) of one sleeve; fills must all lie in [i0, i1), ordered by bar.
    Writes equity[i0 + 1 : i1 + 1] and returns the trades closed in this chunk as
    (side, entry_ms, exit_ms, entry_px, exit_px, qty, fees, pnl, funding) arrays."""
    n_f = f_bar.shape[0]
    n_tags = lot_qty.shape[0]
    cap = n_f + n_tags + 1  # a fill closes at most one lot; then liquidation/final close
    tr_side = np.empty(cap, dtype=np.int64)
    tr_entry = np.empty(cap, dtype=np.int64)
    tr_exit = np.empty(cap, dtype=np.int64)
    tr_entry_px = np.empty(cap)
    tr_exit_px = np.empty(cap)
    tr_qty = np.empty(cap)
    tr_fee = np.empty(cap)
    tr_pnl = np.empty(cap)
    tr_funding = np.empty(cap)
    nt = 0
    k = 0
    n_fund = fund_time.shape[0]
    for i in range(i0, i1):
        t = time_ms[i]
        while st_i[NEXT_FUNDING] < n_fund and fund_time[st_i[NEXT_FUNDING]] <= t:
            rate = fund_rate[st_i[NEXT_FUNDING]]
            st_i[NEXT_FUNDING] += 1
            if st[POS] != 0.0:
                for j in range(n_tags):
                    if lot_qty[j] != 0.0:
                        pay = lot_qty[j] * open_[i] * rate
                        lot_funding[j] += pay
                        st[CASH] -= pay
        while k < n_f and f_bar[k] == i:
            if st[LIQUIDATED] == 0.0:
                p = f_price[k]
                tag = f_tag[k]
                if f_is_target[k]:
                    eq = st[CASH] + st[POS] * p
                    want = f_qty[k] * eq * leverage / p if eq > 0.0 else 0.0
                    dq = want - lot_qty[tag]
                else:
                    dq = f_qty[k]
                if dq != 0.0:
                    p = _slippage(p, dq, f_maker[k], volume[i], slip_kind, slip_value)
                    fee = _fee_rate(
                        t,
                        abs(dq) * p,
                        f_maker[k],
                        tier_volume,
                        tier_maker,
                        tier_taker,
                        st,
                        st_i,
                        day_volume,
                    )
                    nt = _apply_fill(
                        tag,
                        dq,
                        p,
                        t,
                        fee,
                        st,
                        st_i,
                        lot_qty,
                        lot_price,
                        lot_time,
                        lot_fee,
                        lot_funding,
                        tr_side,
                        tr_entry,
                        tr_exit,
                        tr_entry_px,
                        tr_exit_px,
                        tr_qty,
                        tr_fee,
                        tr_pnl,
                        tr_funding,
                        nt,
                    )
            k += 1
        q = st[POS]
        if q != 0.0:
            adverse = low[i] if q > 0.0 else high[i]
            if st[CASH] + q * adverse <= mmr * abs(q) * adverse:
                p_liq = -st[CASH] / (q - mmr * abs(q))
                if q > 0.0:
                    p_x = max(min(p_liq, open_[i]), low[i])
                else:
                    p_x = min(max(p_liq, open_[i]), high[i])
                remaining = st[CASH] + q * p_x  # forfeited margin (< 0: fund covers the gap)
                gross = 0.0
                for j in range(n_tags):
                    gross += abs(lot_qty[j])
                for j in range(n_tags):
                    lq = lot_qty[j]
                    if lq != 0.0:
                        side = 1 if lq > 0.0 else -1
                        charge = remaining * abs(lq) / gross
                        pnl = (side * abs(lq) * (p_x - lot_price[j]) - lot_fee[j] - charge
                               - lot_funding[j])
                        nt = _record(
                            tr_side,
                            tr_entry,
                            tr_exit,
                            tr_entry_px,
                            tr_exit_px,
                            tr_qty,
                            tr_fee,
                            tr_pnl,
                            tr_funding,
                            nt,
                            side,
                            lot_time[j],
                            t,
                            lot_price[j],
                            p_x,
                            abs(lq),
                            lot_fee[j] + charge,
                            pnl,
                            lot_funding[j],
                        )
                        lot_qty[j] = 0.0
                        lot_fee[j] = 0.0
                        lot_funding[j] = 0.0
                st[CASH] = 0.0
                st[POS] = 0.0
                st_i[OPEN_LOTS] = 0
                st[LIQUIDATED] = 1.0
        equity[i + 1] = st[CASH] + st[POS] * close[i]
    if final and i1 > i0 and st[POS] != 0.0:
        last = i1 - 1
        p = close[last]
        t = time_ms[last] + tf_ms
        for j in range(n_tags):
            lq = lot_qty[j]
            if lq != 0.0:
                px = _slippage(p, -lq, False, volume[last], slip_kind, slip_value)
                fee = _fee_rate(
                    t, abs(lq) * px, False, tier_volume, tier_maker, tier_taker, st, st_i,
                    day_volume
                )
                nt = _apply_fill(
                    j,
                    -lq,
                    px,
                    t,
                    fee,
                    st,
                    st_i,
                    lot_qty,
                    lot_price,
                    lot_time,
                    lot_fee,
                    lot_funding,
                    tr_side,
                    tr_entry,
                    tr_exit,
                    tr_entry_px,
                    tr_exit_px,
                    tr_qty,
                    tr_fee,
                    tr_pnl,
                    tr_funding,
                    nt,
                )
        equity[i1] = st[CASH]
    return (
        tr_side[:nt],
        tr_entry[:nt],
        tr_exit[:nt],
        tr_entry_px[:nt],
        tr_exit_px[:nt],
        tr_qty[:nt],
        tr_fee[:nt],
        tr_pnl[:nt],
        tr_funding[:nt],
    )
