"""The engine: calling a model (evaluate), Measurement, tolerances, finite differences, memo."""
