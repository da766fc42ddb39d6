# Transitional alias of fastgnn._runtime.blas (the same module object), removed with the last caller.
import sys

from fastgnn._runtime import blas as _module

sys.modules[__name__] = _module
