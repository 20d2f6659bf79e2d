"""The grader of the course's exercises.

* ``checks``: comparing a student's results with oracles, with diagnostics;
* ``oracles``: torch.autograd in float64 and central differences, computed by the grader;
* ``tests_<assignment>``: the hidden tests of one assignment, one function per graded part;
* ``mutants``: the catalogue of buggy and correct solutions that proves those tests;
* ``course``: the assignments, and running nbgrader on a course directory;
* ``feedback``: keeps hidden tests out of the feedback students receive.

It imports ``nnref`` for its references; ``nnref`` never imports it.  Keep
this file free of heavy imports: ``nbgrader_config.py`` imports the package.
"""
