"""Assignment 03_gradient_descent: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
