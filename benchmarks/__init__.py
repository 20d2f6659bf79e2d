"""The performance harness: ``python -m benchmarks`` (``make bench``).

Rows follow issue 7: raw GEMM throughput (``gemm``), the MLP training step
(``mlp_step``), the cost of gradient checking (``gradcheck_cost``), torch on
CUDA (``cuda``), grading throughput (``grading``) and book builds
(``book_builds``).  ``timing`` measures candidates side by side, ``report``
prints the table and writes ``results.json``.
"""
