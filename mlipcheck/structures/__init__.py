from mlipcheck.structures.cases import Case, all_cases, cases_for

__all__ = ["Case", "all_cases", "cases_for"]
