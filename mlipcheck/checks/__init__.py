"""The checks, one folder per area: conformance, extrapolation, properties, accuracy, performance.

Each check is a plain function of one shape, `check_x(ctx, target, settings) -> Measurement`
(mlipcheck/engine/context.py), or it raises NotApplicable (a skip); it knows nothing about pytest.
An area registers its test targets in mlipcheck.targets (e.g. extrapolation/dimers.py: element
pairs) and its plots in mlipcheck.report.plots.
"""
