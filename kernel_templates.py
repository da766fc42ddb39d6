"""Helpers the Tempita templates of src/fastgnn/_kernels/*.pxd.tp import.

A C header compiles every kernel once per (value type, index type) pair
under a suffixed name (fg_gather_sum_f32_i32, ...). A template lists each
kernel's signature once, with T for the value type and I for the index
type; with these helpers it declares every variant and a fused-type inline
function of the unsuffixed name that picks the variant at compile time, so
a .pyx calls one name for all dtypes.

Build-time only: setup.py puts this folder on sys.path before it expands
the templates; the module is not part of the installed package.
"""
import re

# The pairs the headers instantiate, and the suffix of their names.
VARIANTS = [
    ("float", "int32_t", "f32_i32"),
    ("float", "int64_t", "f32_i64"),
    ("double", "int32_t", "f64_i32"),
    ("double", "int64_t", "f64_i64"),
]
FUSED = {"T": "floating", "I": "index_t"}


def typed(params, types):
    """The parameters with T and I spelled as ``types`` says."""
    return re.sub(r"\b[TI]\b", lambda m: types[m.group(0)], params)


def arg_names(params):
    """The parameter names of ``params``, comma-separated, for a call."""
    return ", ".join(p.split()[-1].lstrip("*") for p in params.split(","))


def dispatch(params, variants=VARIANTS, fused=FUSED):
    """(keyword, condition, suffix) per variant the signature can tell apart.

    A kernel without a T (or I) parameter is still compiled once per pair,
    in identical copies: the first variant listed stands for the others.
    """
    used = [letter for letter in fused if re.search(r"\b%s\b" % letter, params)]
    seen, cases = set(), []
    for value, index, suffix in variants:
        concrete = {"T": value, "I": index}
        key = tuple(concrete[letter] for letter in used)
        if key not in seen:
            seen.add(key)
            condition = " and ".join("%s is %s" % (fused[letter], concrete[letter]) for letter in used)
            cases.append(("if" if not cases else "elif", condition, suffix))
    return cases
