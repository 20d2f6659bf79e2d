"""The grader of the course's exercises.

* ``checks``: comparing a student's results with oracles, with diagnostics;
* ``oracles``: torch.autograd in float64 and central differences, computed by the grader;
* ``parts``: the graded parts of an assignment, their points and the answer cells they run;
* ``assignments``: one room per assignment, ``assignments/<name>/`` with its hidden checks
  (``checks.py``) and its mutant catalogue (``mutants.py``); ``assignments.shared`` holds what
  several rooms use;
* ``mutation``: grades the mutant catalogues, the tests for the tests (``python -m autograder.mutation``);
* ``notebooks``: reading notebooks the way nbgrader does (cells, their roles, graded parts);
* ``course``: the assignments (a source notebook and its room), and running nbgrader on a course directory;
* ``feedback``: keeps hidden tests out of the feedback students receive;
* ``grading``: the grading command (``python -m autograder grade``).

It imports ``nnref`` for its references; ``nnref`` never imports it.  Keep
this file free of heavy imports: ``nbgrader_config.py`` imports the package.
"""
