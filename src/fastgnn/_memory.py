# Transitional alias of fastgnn._runtime.memory (the same module object), removed with the last caller.
import sys

from fastgnn._runtime import memory as _module

sys.modules[__name__] = _module
