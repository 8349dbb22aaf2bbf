"""Gymnasium environments: simulated users and the classic testbeds."""
