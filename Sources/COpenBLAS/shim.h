// OpenBLAS's CBLAS (Debian: libopenblas-dev) and LAPACKE (liblapacke-dev).
#include <cblas.h>
#include <lapacke.h>
