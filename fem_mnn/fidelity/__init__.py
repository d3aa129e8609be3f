"""Comparison of models with each other and with measurements (spring, calibrated spring, frame, FE)."""
