"""The class-scale grading command: ``python -m autograder grade ASSIGNMENT --submissions DIR``.

* ``sandbox``: the limits and isolation a student kernel runs under;
* ``wire``: plain data between the student kernel and the grader (JSON, never pickles);
* ``runner``: executes one notebook with nbclient and asks its kernel for results;
* ``job``: one submission = one independent job with a plain-data result (the scale-out seam);
* ``gradebook``: nbgrader's gradebook and the resumable journal;
* ``report``: the JSON and CSV report;
* ``cli``: the command line.
"""
