"""mlipcheck's suites: thin pytest modules that pick cases, call a check and assert on it.

Run from a clone with `pytest suites --model X`, or installed with `mlipcheck run --model X`
(equivalently `pytest --pyargs mlipcheck.suites --model X`).
"""
