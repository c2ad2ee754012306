"""Printing ``python -m benchmarks``'s report: the tables, side by side, and the targets."""

from __future__ import annotations

import math

from .peers import PEERS
from .zoo import SPEC_ZOO

__all__ = ["COLUMNS", "geomean_speedups", "print_tables", "print_latency", "print_targets"]

#: The variants, in the table's order.
COLUMNS = ("numpy", "interpreter", "numba", *PEERS)
#: SPEC's targets: minimum speedup of the numba backend over NumPy eager (issue 5).
TARGETS = {"gelu_ln": 3.0, "mlp": 1.2, "cnn": 1.2, "transformer": 1.2, "rnn": 2.0}
WARM_LATENCY_TARGET_S = 0.5


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.2f}")


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**20:.2f} MiB"


def geomean_speedups(models: dict) -> dict[str, tuple[float, int]]:
    """Per variant: the geometric mean of its speedup over NumPy eager, over the models of SPEC's
    zoo that it ran (and how many those were)."""
    out = {}
    for c in COLUMNS:
        ratios = [m["ms"]["numpy"] / m["ms"][c] for n, m in models.items() if c in m["ms"] and n in SPEC_ZOO]
        if ratios:
            out[c] = (math.exp(sum(math.log(r) for r in ratios) / len(ratios)), len(ratios))
    return out


def print_tables(report: dict, rows: list[str]) -> None:
    models = report["models"]
    cols = [c for c in COLUMNS if any(c in models[n]["ms"] for n in rows)]
    print("## time per call, ms (speedup over NumPy eager in parentheses)")
    print(f"{'model':13s}" + "".join(f"{c:>17s}" for c in cols))
    for name in rows:
        ms = models[name]["ms"]
        cells = ["-" if ms.get(c) is None else f"{_fmt_ms(ms[c])} ({ms['numpy'] / ms[c]:.2f}x)" for c in cols]
        print(f"{name:13s}" + "".join(f"{c:>17s}" for c in cells))
    geo = geomean_speedups({n: models[n] for n in rows})
    n_spec = sum(n in SPEC_ZOO for n in rows)
    cells = [f"{geo[c][0]:.2f}x" + ("" if geo[c][1] == n_spec else f" ({geo[c][1]})") if c in geo else "-"
             for c in cols]
    print(f"{'geomean':13s}" + "".join(f"{c:>17s}" for c in cells))
    print(f"  geomean: speedup over NumPy eager over the {n_spec} models of SPEC's zoo above (over fewer where a "
          "count follows)")
    for n in rows:
        if models[n]["note"]:
            print(f"  {n}: {models[n]['note']}")
        for variant, why in models[n].get("absent", {}).items():
            if not why.startswith("not installed"):
                print(f"  {n}: {variant} not timed: {why}")
    runs = {n: models[n].get("pool_runs") for n in rows if models[n].get("pool_runs")}
    if runs:  # the pool backs off to the caller alone after a stall: alone runs are single-threaded
        print("  numba's split kernels while timed (codegen.pool): " + "; ".join(
            f"{n} {r['shared']} shared, {r['solo']} alone after {r['stalls']} stalls"
            + (f" and {r['preempted']} preempted spells" if r.get("preempted") else "") for n, r in runs.items()))
    print("\n## output checked against NumPy eager before timing (SPEC: |y - r| <= rtol (|r| + max|r|))")
    print(f"{'model':13s}" + "".join(f"{c:>17s}" for c in cols[1:]))
    for name in rows:
        err = models[name]["spec_err"]
        print(f"{name:13s}" + "".join(f"{err[c]:>17.1e}" if c in err else f"{'-':>17s}" for c in cols[1:]))
    print("\n## peak memory per call (tracemalloc; numba = during the call + its reused workspace)")
    print(f"{'model':13s}{'numpy':>12s}{'interpreter':>14s}{'numba':>22s}{'max rel err':>14s}{'kernels':>9s}")
    for name in rows:
        m = models[name]
        pb = m["peak_bytes"]
        numba = f"{_fmt_bytes(pb['numba'])} + {_fmt_bytes(m['workspace_bytes'])}"
        print(f"{name:13s}{_fmt_bytes(pb['numpy']):>12s}{_fmt_bytes(pb['interpreter']):>14s}{numba:>22s}"
              f"{m['max_rel_err']:>14.1e}{m['kernels']:>9d}")
    if "compile_s" in report:
        print(f"\n## cold compile (empty cache; numba's own first-use cost, {report['numba_init_s']:.2f} s, excluded)")
        for name in rows:
            print(f"  {name:13s} {report['compile_s'][name]:6.2f} s  ({report['kernels'][name]} kernels)")


def print_latency(latency: dict) -> None:
    print("\n## new process to first output, s (imports + load + first call; peak resident memory in the details)")
    print("   ours: tracer.load(..., _restore_shapes=True); cold = empty compile cache, warm = filled by the cold run")
    print("   ONNX Runtime: InferenceSession on the .onnx (no compile cache: cold = first process, warm = second)")
    print("   JAX: import, jit, first call; cold = no persistent cache, warm = jax_compilation_cache_dir filled "
          "by an earlier process")
    systems = [s for s in ("ours", "onnxruntime", "jax") if any(s in v for v in latency.values())]
    print(f"{'model':13s}" + "".join(f"{s + ' ' + label:>19s}" for s in systems for label in ("cold", "warm")))
    for name, r in latency.items():
        cells = [f"{r[s][label]['first_output']:.3f}" if s in r else "-" for s in systems for label in ("cold", "warm")]
        print(f"{name:13s}" + "".join(f"{c:>19s}" for c in cells))
    for name, r in latency.items():
        for label in ("cold", "warm"):
            o = r["ours"][label]
            print(f"  {name:13s} ours {label:4s} cache: {o['load_to_output']:.3f} s after imports "
                  f"({o['imports']:.3f} s of imports, {o['process']:.3f} s whole process, peak "
                  f"{o['peak_mib']:.0f} MiB); kernels compiled {o['compiled']}, loaded {o['loaded']}, "
                  f"numba imported: {o['numba_imported']}")
        for s in systems[1:]:
            for label in ("cold", "warm"):
                if s in r:
                    o = r[s][label]
                    print(f"  {name:13s} {s} {label}: {o['load_to_output']:.3f} s after imports ({o['imports']:.3f} s "
                          f"of imports, {o['process']:.3f} s whole process, peak {o['peak_mib']:.0f} MiB)")


def print_targets(report: dict) -> None:
    print("\n## targets (SPEC / issue 5)")
    models = report["models"]
    for name, target in TARGETS.items():
        if name not in models:
            continue
        ms = models[name]["ms"]
        speed = ms["numpy"] / ms["numba"]
        verdict = "met" if speed >= target else "NOT met"
        print(f"  {name:12s} numba {speed:5.2f}x NumPy eager (target >= {target}x): {verdict}")
    slower = [n for n in models if models[n]["ms"]["numba"] > models[n]["ms"]["numpy"]]
    print(f"  no model slower than NumPy eager: {'met' if not slower else 'NOT met: ' + ', '.join(slower)}")
    heavier = [n for n in models if models[n]["peak_bytes"]["numba_total"] > models[n]["peak_bytes"]["numpy"]]
    print(f"  peak memory not above NumPy eager's (call + workspace): "
          f"{'met' if not heavier else 'NOT met: ' + ', '.join(heavier)}")
    if "latency_mlp" in report:
        warm = report["latency_mlp"]["warm"]["load_to_output"]
        print(f"  warm-cache load-to-first-output of mlp <= {WARM_LATENCY_TARGET_S} s: {warm:.3f} s, "
              f"{'met' if warm <= WARM_LATENCY_TARGET_S else 'NOT met'}")
    _print_peer_targets(report)


def _print_peer_targets(report: dict) -> None:
    models = report["models"]
    peers = [p for p in PEERS if any(p in m["ms"] for m in models.values())]
    if not peers:
        return
    print(f"\n## against the peers (issue 13){' -- with the other core busy' if report.get('busy') else ''}")
    geo = geomean_speedups(models)
    peers = [p for p in peers if p in geo]
    if not peers:
        return
    best = max(peers, key=lambda p: geo[p][0])
    print(f"  geomean: numba {geo['numba'][0]:.2f}x, best peer {best} {geo[best][0]:.2f}x: "
          f"{'ahead' if geo['numba'][0] > geo[best][0] else 'NOT ahead'}")
    for name, m in models.items():
        ms = m["ms"]
        if name not in SPEC_ZOO:
            continue
        fastest = min((p for p in peers if p in ms), key=lambda p: ms[p], default=None)
        if fastest is not None:
            r = ms[fastest] / ms["numba"]
            verdict = "ok" if r >= 1.0 else ("under 1.0x" if r >= 0.8 else "UNDER 0.8x")
            print(f"  {name:13s} numba {r:5.2f}x the fastest peer ({fastest}): {verdict}")
    for name, r in report.get("latency", {}).items():
        if "onnxruntime" in r:
            ours, ort = r["ours"]["warm"]["first_output"], r["onnxruntime"]["warm"]["first_output"]
            print(f"  {name:13s} warm start {ours:.3f} s vs ONNX Runtime {ort:.3f} s: "
                  f"{'within 0.1 s' if ours <= ort + 0.1 else 'NOT within 0.1 s'}; "
                  f"cold {r['ours']['cold']['first_output']:.2f} s: "
                  f"{'under 3 s' if r['ours']['cold']['first_output'] < 3 else 'NOT under 3 s'}")
