"""XLA compile options by backend and program.

On the CPU most of a program's compile time is LLVM's optimisation of its fused loops, and a
small model's run is mostly compile time (a 3e10-FLOP sweep run trains for ~3 s). Measured on
the 2-core development VM: LLVM -O1 (XLA's default is -O3) compiles the d256 train step in 3.7 s
instead of 6.4 s and a 11K-parameter model's in 2.1 s instead of 3.3 s, at the same step time
(the step's dots call library kernels, which no LLVM level changes); the initialisation program
runs once, so it is compiled at -O0 (4.6 s → 1.4 s for a 20K-parameter model; it then runs in
7 ms instead of 3 ms). Other backends keep their defaults.
"""

STEP = 1  # train and eval steps
ONCE = 0  # programs that run once: initialisation


def compile_options(level: int, device) -> dict:
    """jax.jit's compiler_options for a program that runs on `device` (and its like)."""
    return {"xla_backend_optimization_level": level} if device.platform == "cpu" else {}
