# Transitional alias of fastgnn._runtime.validate (the same module object), removed with the last caller.
import sys

from fastgnn._runtime import validate as _module

sys.modules[__name__] = _module
