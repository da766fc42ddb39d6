"""Build of fastgnn's compiled kernels.

The C compiler is checked first: without one, the build stops with a
message that says what to install. OpenMP is then detected with a compile
test; without it (or with FASTGNN_NO_OPENMP=1) the kernels build serially
and a warning says so.
The build targets baseline x86-64: wide vectors come from runtime dispatch
in csrc/fastgnn_kernels.h, never from -march=native (opt in with
FASTGNN_NATIVE=1 for a local, non-distributable build).

Files named ``*.tp`` under src/fastgnn/_kernels are Tempita templates,
expanded here (next to the template, minus the suffix) before Cython runs;
the expansions are build products, not sources.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from Cython import Tempita
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError, PlatformError

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_DIR = os.path.join(HERE, "src", "fastgnn", "_kernels")
KERNEL_MODULES = ["_common", "aggregate", "structure", "dense", "probe", "attention_ops", "gat", "sample"]
INSTALL_A_COMPILER = (
    "fastgnn's kernels are C and need a C compiler with OpenMP and Python's headers: install gcc or clang "
    "(Debian/Ubuntu: apt install build-essential python3-dev; Fedora: dnf install gcc python3-devel; "
    "macOS: xcode-select --install, and brew install libomp for threads), or name one in CC."
)


def expand_templates(directory=KERNEL_DIR):
    """Write ``name`` from each ``name.tp`` in ``directory``.

    A file whose text is unchanged is left alone, so its modification time
    does not make Cython recompile the modules that cimport it. The templates
    import their shared helpers from kernel_templates.py, next to this file.
    """
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".tp"):
            continue
        template_path = os.path.join(directory, entry)
        with open(template_path, encoding="utf-8") as handle:
            template = Tempita.Template(handle.read(), name=entry)
        text = template.substitute()
        text = text if text.endswith("\n") else text + "\n"
        target = template_path[: -len(".tp")]
        if os.path.exists(target):
            with open(target, encoding="utf-8") as handle:
                if handle.read() == text:
                    continue
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)


def openmp_flags(compiler_command):
    """Compile and link flags for OpenMP, or None when the compiler lacks it.

    ``compiler_command`` is the C compiler's command line (a list), as the build will run it.
    """
    if os.environ.get("FASTGNN_NO_OPENMP", "") not in ("", "0"):
        warnings.warn("FASTGNN_NO_OPENMP is set: building fastgnn's kernels without OpenMP (serial).")
        return None
    if sys.platform == "win32":
        return ["/openmp"], []
    flags = ["-fopenmp"]
    source = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "check_openmp.c")
        with open(path, "w") as handle:
            handle.write(source)
        result = subprocess.run(
            list(compiler_command) + flags + [path, "-o", os.path.join(tmp, "check_openmp")],
            capture_output=True,
        )
    except OSError:
        result = None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if result is None or result.returncode != 0:
        warnings.warn(
            "The C compiler does not support OpenMP: fastgnn's kernels are built serially "
            "(results are the same, only slower). Install a compiler with OpenMP to get threads."
        )
        return None
    return flags, flags


class BuildKernels(build_ext):
    """``build_ext`` that checks for a C compiler, then adds the OpenMP flags the compiler takes."""

    def build_extensions(self):
        command = getattr(self.compiler, "compiler_so", None)   # None with MSVC, which finds itself
        if command and shutil.which(command[0]) is None:
            raise PlatformError(f"no C compiler: {command[0]!r} was not found. {INSTALL_A_COMPILER}")
        omp = openmp_flags(command or [])
        if omp is not None:
            for extension in self.extensions:   # new lists: the extensions share theirs
                extension.extra_compile_args = extension.extra_compile_args + omp[0]
                extension.extra_link_args = extension.extra_link_args + omp[1]
        try:
            super().build_extensions()
        except (CompileError, LinkError) as error:
            raise type(error)(f"{error}\n{INSTALL_A_COMPILER}") from error


def extensions():
    # -ffp-contract=off: no fused multiply-adds, so every instruction-set clone of a kernel
    # (and every kernel computing the same sum) rounds alike and gives identical bits.
    compile_args = ["-O3", "-fno-math-errno", "-ffp-contract=off"] if sys.platform != "win32" else ["/O2"]
    link_args = []
    if sys.platform != "win32":
        # No debug info in the shipped extensions: it is most of their size and names the build's
        # temporary folders. FASTGNN_DEBUG=1 keeps it for local debugging.
        if os.environ.get("FASTGNN_DEBUG", "") in ("", "0"):
            compile_args.append("-g0")
            if sys.platform.startswith("linux"):
                link_args.append("-Wl,--strip-debug")
    if os.environ.get("FASTGNN_NATIVE", "") not in ("", "0"):
        compile_args.append("-march=native")
    return [
        Extension(
            f"fastgnn._kernels.{name}",
            [f"src/fastgnn/_kernels/{name}.pyx"],
            include_dirs=[os.path.join(HERE, "csrc"), np.get_include()],
            # rebuild when a kernel header changes (setuptools tracks only the sources otherwise)
            depends=sorted(glob.glob(os.path.join("csrc", "*.h"))),
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for name in KERNEL_MODULES
    ]


expand_templates()
setup(
    cmdclass={"build_ext": BuildKernels},
    ext_modules=cythonize(
        extensions(),
        compiler_directives={"language_level": "3"},
        include_path=["src"],
    ),
)
