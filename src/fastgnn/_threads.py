# Transitional alias of fastgnn._runtime.threads (the same module object), removed with the last caller.
import sys

from fastgnn._runtime import threads as _module

sys.modules[__name__] = _module
