"""Adapters that let other training libraries use exprl environments and judges (one module per library).

Each adapter imports its library, which is an optional extra of exprl (``pip install "exprl[trl]"``) pinned to the
version its tests ran; nothing outside this package imports them, so exprl itself never needs them.
"""
