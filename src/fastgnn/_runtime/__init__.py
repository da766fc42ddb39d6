"""The runtime below everything else: argument checks, aligned memory, threads, BLAS control, numerics.

Private: the public names it serves (``set_num_threads``, ``limit_blas_threads``,
...) are exported by :mod:`fastgnn`.
"""
