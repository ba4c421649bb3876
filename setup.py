"""Builds the native CPU kernels of ``snnjax.sim`` (XLA FFI handlers, ``csrc/``).

Everything else is in ``pyproject.toml``. The headers come from ``jaxlib`` (a build
requirement); nothing prebuilt is downloaded. Without a C++ compiler the package still
installs and runs on its pure-JAX path (``snnjax.sim.native_available()`` says which).
"""

import pathlib

from setuptools import Extension, setup


def _jaxlib_include() -> str:
    import jaxlib  # the build requirement: XLA's FFI headers ship with it

    return str(pathlib.Path(jaxlib.__file__).parent / "include")


setup(
    ext_modules=[
        Extension(
            "snnjax.sim._sim_kernels",
            sources=[
                "snnjax/sim/csrc/sim_kernels.cc",
                "snnjax/sim/csrc/deliver.cc",
                "snnjax/sim/csrc/plastic.cc",
                "snnjax/sim/csrc/csr_build.cc",
                "snnjax/sim/csrc/source_draws.cc",
                "snnjax/sim/csrc/neuron_ode.cc",
                "snnjax/sim/csrc/neuron_exact.cc",
            ],
            depends=[
                f"snnjax/sim/csrc/{h}"
                for h in (
                    "block.h",
                    "build_common.h",
                    "clones.h",
                    "csr_rows.h",
                    "ffi_common.h",
                    "rkf45.h",
                    "threefry.h",
                    "ode_models.h",
                )
            ],
            include_dirs=[_jaxlib_include()],
            language="c++",
            extra_compile_args=[
                "-std=c++17",
                "-O3",
                "-ffp-contract=off",
                "-fno-trapping-math",
                "-fvisibility=hidden",
                "-Wno-psabi",  # rkf45.h: vector helpers, always inlined (no call passes a vector)
            ],
            optional=True,
        )
    ]
)
