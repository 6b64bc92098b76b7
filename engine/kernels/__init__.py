"""Numba kernels over plain arrays: one per template plus the account (fills/fees/margin)."""
