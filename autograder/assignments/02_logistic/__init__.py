"""Assignment 02_logistic: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
