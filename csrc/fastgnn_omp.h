/* OpenMP shim: lets the kernels build (serially) where the compiler has no OpenMP. */
#ifndef FASTGNN_OMP_H
#define FASTGNN_OMP_H

#ifdef _OPENMP
#include <omp.h>
static inline int fg_openmp_enabled(void) { return 1; }
static inline int fg_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int fg_openmp_enabled(void) { return 0; }
static inline int fg_omp_max_threads(void) { return 1; }
#endif

#endif
