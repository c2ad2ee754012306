"""Lowering the IR to machine code with numba: fusion planning, kernel source, compile and cache.

``codegen`` imports only ``ir`` (and NumPy; numba and llvmlite only when compiling or loading).

=======================  =============================================================================
``codegen.lowering``     the lowering table: one ``@LOWER.register`` rule per op
``codegen.fusion``       which ops share a kernel
``codegen.analysis``     types, known scalars, view geometry, what each node becomes
``codegen.plan``         :func:`plan_graph`: kernels, buffers, frames and steps for one input signature
``codegen.plan_types``   :class:`Plan`, :class:`PlanOptions` and the step types
``codegen.memory``       the planner's buffers: arena offsets from liveness, output block, in-place reuse
``codegen.frames``       the planner's kernels, chunks and frame words
``codegen.matmuls``      the planner's BLAS calls, convolutions and pooling, and their thread splits
``codegen.kernels``      readable Python source of one kernel
``codegen.mathlib``      helpers kernels call (vectorized float32 exp/tanh/erf, NumPy's arithmetic)
``codegen.compiler``     numba: source -> relocatable object code
``codegen.native``       object code -> callable kernel (no numba needed): ``codegen.elf``, else llvmlite
``codegen.elf``          our loader of relocatable x86-64 ELF objects (no LLVM needed)
``codegen.cache``        kernels in memory and on disk (``TRACER_CACHE_DIR``)
``codegen.blas``         the BLAS NumPy uses, for ``gemm`` calls inside kernels
=======================  =============================================================================

``runtime.compiled.NumbaExecutor`` runs the plans.
"""

from .plan import Plan, PlanOptions, plan_graph

__all__ = ["Plan", "PlanOptions", "plan_graph"]
