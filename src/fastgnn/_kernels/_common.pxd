# Shared declarations of the private kernel modules.
from libc.stdint cimport int32_t, int64_t

ctypedef fused floating:
    float
    double

ctypedef fused index_t:
    int32_t
    int64_t

cdef extern from "fastgnn_omp.h" nogil:
    int fg_openmp_enabled()
    int fg_omp_max_threads()
