"""Assignment 08_universality: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
