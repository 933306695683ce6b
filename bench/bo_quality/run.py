"""Solution quality of Bayesian optimizers on synthetic functions, side by side: hpopt against peers.

Every (function, contender, seed) run minimizes the function for ``--budget`` evaluations through the
contender's ask/tell adapter (contenders.py) and records the simple regret after each evaluation
(best value so far minus the known global minimum) and the wall time of each ask (the suggestion only,
not the function evaluation). Per function it prints a Markdown table (median and interquartile range of
the final regret, mean seconds per suggestion, mean seconds per run), keeps every run in
``results/<function>.json`` and draws ``docs/img/bo_<function>.png`` (median regret against evaluations,
log y axis, shaded interquartile range).

Runs are resumable: each finished run is written to the JSON at once, and a later invocation with the
same budget skips the (function, contender, seed) runs it finds there. A contender that raises
NotImplementedError or cannot be imported is reported as "not available" and the others go on.

    bench/bo_quality/.venv/bin/python bench/bo_quality/run.py                      # 20 seeds, budget 50
    bench/bo_quality/.venv/bin/python bench/bo_quality/run.py --seeds 2 --budget 15
    bench/bo_quality/.venv/bin/python bench/bo_quality/run.py --functions branin --contenders hpopt-bo optuna-tpe
    bench/bo_quality/.venv/bin/python bench/bo_quality/run.py --report-only        # tables and plots from the JSON
    bench/bo_quality/.venv/bin/python bench/bo_quality/run.py --suite all --budgets 30 50 100 --seeds 20

With ``--suite dev|heldout|all`` it runs the suite's problems of that half (suite.py) and, after the
per-problem tables, prints the per-half summary of suite_report.py. Noisy problems: the optimizer sees
the noisy value, the regret is the noiseless value of the incumbent minus the noiseless minimum.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from contenders import CONTENDERS, Unavailable  # noqa: E402
from functions import PROBLEMS as BASE_PROBLEMS  # noqa: E402
from suite import SUITE  # noqa: E402

PROBLEMS = SUITE  # the original four functions and the suite's problems, by name
NOISE_SEED = 20261204  # noisy problems: the noise of run `seed` comes from default_rng([seed, NOISE_SEED])

PLOT_FLOOR = 1e-12  # regrets at or below this are drawn at this height on the log axis


# --- one run (in a worker process) ------------------------------------------------------------------

def _worker_init() -> None:
    import logging
    import signal
    import warnings

    # The parent decides about stopping (it saves what is finished, then ends the workers); some
    # optimizers catch every exception in their inner loops, so a Ctrl-C must not reach them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.filterwarnings("ignore")
    logging.getLogger("hpopt").setLevel(logging.WARNING)


def run_one(function: str, contender: str, seed: int, budget: int) -> dict[str, Any]:
    """Run one contender on one function for one seed; never raises (errors come back as data)."""
    problem = PROBLEMS[function]
    cls = CONTENDERS[contender]
    values: list[float] = []
    points: list[dict[str, Any]] = []
    ask_s: list[float] = []
    tell_s: list[float] = []
    best_value, best_params = float("inf"), None
    true_values: list[float] = []
    noise = None
    if problem.noise_sd:
        import numpy as np

        noise = np.random.default_rng([seed, NOISE_SEED])
    opt = None
    try:
        cls.load()  # imports happen before the clock starts
        t_start = time.perf_counter()
        opt = cls(problem, seed=seed, budget=budget)
        for _ in range(budget):
            t0 = time.perf_counter()
            params = opt.ask()
            t1 = time.perf_counter()
            value = true_value = problem(params)
            if noise is not None:  # the optimizer sees a noisy value; regret uses the noiseless one
                value = true_value + problem.noise_sd * float(noise.standard_normal())
            t2 = time.perf_counter()
            opt.tell(value)
            t3 = time.perf_counter()
            values.append(value)
            true_values.append(true_value)
            points.append(params)
            ask_s.append(t1 - t0)
            tell_s.append(t3 - t2)
            if value < best_value:
                best_value, best_params = value, params
    except (NotImplementedError, Unavailable) as exc:
        return {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}", "evaluations": len(values)}
    except Exception as exc:
        tb = traceback.format_exc().strip().splitlines()
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc}", "traceback": tb[-12:],
                "evaluations": len(values)}
    finally:
        if opt is not None:
            with contextlib.suppress(Exception):
                opt.close()
    # Simple regret of the incumbent (the point with the best value seen so far, noisy if the problem is):
    # its noiseless value minus the known minimum.
    regret, best, incumbent = [], float("inf"), float("inf")
    for v, tv in zip(values, true_values, strict=True):
        if v < best:
            best, incumbent = v, tv
        regret.append(incumbent - problem.optimum)
    extra = {"true_values": true_values} if noise is not None else {}
    return {**extra,
        "status": "ok", "budget": budget, "values": values, "params": points, "regret": regret, "ask_s": ask_s,
        "tell_s": tell_s,
        "wall_s": time.perf_counter() - t_start, "best_value": best_value, "best_params": best_params,
        "notes": opt.notes() if opt is not None else {},
    }


# --- results files ----------------------------------------------------------------------------------

def results_path(out: Path, function: str) -> Path:
    return out / f"{function}.json"


def load_results(out: Path, function: str) -> dict[str, Any]:
    path = results_path(out, function)
    problem = PROBLEMS[function]
    if path.exists():
        with open(path) as f:
            data = json.load(f)
    else:
        data = {}
    data.update(function=function, title=problem.title, optimum=problem.optimum)
    data.setdefault("runs", {})  # budget -> contender -> seed -> run
    data.setdefault("unavailable", {})  # contender -> reason (from the latest attempt)
    data.setdefault("errors", {})  # budget -> contender -> seed -> error
    data.setdefault("summary", {})  # budget -> contender -> figures
    return data


def save_results(out: Path, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = results_path(out, data["function"])
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def stored_run(data: dict[str, Any], budget: int, contender: str, seed: int) -> dict[str, Any] | None:
    run = data["runs"].get(str(budget), {}).get(contender, {}).get(str(seed))
    return run if run and len(run.get("regret", [])) == budget else None


# --- summary, table, plot ---------------------------------------------------------------------------

def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    import numpy as np

    q25, q50, q75 = np.percentile(np.asarray(xs, dtype=float), [25, 50, 75])
    return float(q25), float(q50), float(q75)


def summarize(data: dict[str, Any], budget: int, contenders: list[str], seeds: list[int]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in contenders:
        runs = [r for s in seeds if (r := stored_run(data, budget, name, s))]
        if not runs:
            reason = data["unavailable"].get(name)
            errors = data["errors"].get(str(budget), {}).get(name, {})
            if reason:
                summary[name] = {"available": False, "reason": reason}
            elif errors:
                first = next(iter(errors.values()))
                summary[name] = {"available": True, "runs": 0, "error": first["reason"]}
            continue
        final = [r["regret"][-1] for r in runs]
        q25, q50, q75 = _quantiles(final)
        asks = [t for r in runs for t in r["ask_s"]]
        summary[name] = {
            "available": True, "runs": len(runs), "seeds": sorted(int(s) for s in seeds
                                                                  if stored_run(data, budget, name, s)),
            "final_regret_median": q50, "final_regret_q25": q25, "final_regret_q75": q75,
            "ask_s_mean": sum(asks) / len(asks), "run_s_mean": sum(r["wall_s"] for r in runs) / len(runs),
            "duplicates": sum(r.get("notes", {}).get("duplicates", 0) for r in runs) or None,
        }
    return summary


def table(data: dict[str, Any], summary: dict[str, Any], budget: int) -> str:
    lines = [f"### {data['title']}: final simple regret after {budget} evaluations (f* = {data['optimum']:.6g})",
             "",
             "| contender | runs | median regret | IQR (q25 – q75) | s per suggestion | s per run |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, s in summary.items():
        if not s.get("available", True):
            lines.append(f"| {name} | – | not available | {s['reason'][:90]} | – | – |")
        elif not s.get("runs"):
            lines.append(f"| {name} | 0 | failed | {s['error'][:90]} | – | – |")
        else:
            lines.append(f"| {name} | {s['runs']} | {s['final_regret_median']:.3g} | "
                         f"{s['final_regret_q25']:.3g} – {s['final_regret_q75']:.3g} | "
                         f"{s['ask_s_mean']:.4f} | {s['run_s_mean']:.2f} |")
    return "\n".join(lines)


def plot(data: dict[str, Any], budget: int, contenders: list[str], seeds: list[int], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = 0
    for name in contenders:
        runs = [r for s in seeds if (r := stored_run(data, budget, name, s))]
        if not runs:
            continue
        m = np.maximum(np.array([r["regret"] for r in runs], dtype=float), PLOT_FLOOR)
        q25, q50, q75 = np.percentile(m, [25, 50, 75], axis=0)
        x = np.arange(1, budget + 1)
        color = colors[list(CONTENDERS).index(name) % len(colors)]  # the same colour in every plot
        ax.plot(x, q50, label=f"{name} (n={len(runs)})", lw=1.8, color=color,
                ls="-" if name.startswith("hpopt") else "--")
        ax.fill_between(x, q25, q75, color=color, alpha=0.15, lw=0)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return False
    ax.set_yscale("log")
    ax.set_xlim(1, budget)
    ax.set_xlabel("evaluation")
    ax.set_ylabel("simple regret (best so far − f*)")
    ax.set_title(f"{data['title']}\nmedian simple regret over seeds, shaded 25th–75th percentile", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


# --- driver -----------------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fmt_s(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 120 else f"{s:.0f} s"


def execute(tasks: list[tuple[str, str, int]], budget: int, workers: int, out: Path,
            datas: dict[str, dict[str, Any]]) -> None:
    """Run the tasks in a pool, writing each finished run to its function's JSON at once."""
    unavailable: set[tuple[str, str]] = set()
    pending = list(tasks)
    total = len(tasks)
    done = skipped = 0
    t0 = time.perf_counter()
    busy_s = 0.0
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch or BLAS state
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        running: dict[cf.Future, tuple[str, str, int]] = {}
        try:
            while pending or running:
                while pending and len(running) < workers:
                    task = pending.pop(0)
                    if (task[0], task[1]) in unavailable:
                        skipped += 1
                        continue
                    running[pool.submit(run_one, task[0], task[1], task[2], budget)] = task
                    log(f"      start {task[0]:<15s} {task[1]:<13s} seed {task[2]}")
                if not running:
                    break
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    function, contender, seed = running.pop(fut)
                    data = datas[function]
                    try:
                        res = fut.result()
                    except Exception as exc:  # the worker died (e.g. killed for memory)
                        res = {"status": "error", "reason": f"worker failed: {type(exc).__name__}: {exc}"}
                    done += 1
                    head = f"[{done + skipped}/{total}] {function:<15s} {contender:<13s} seed {seed:<3d}"
                    if res["status"] == "ok":
                        data["runs"].setdefault(str(budget), {}).setdefault(contender, {})[str(seed)] = res
                        data["errors"].get(str(budget), {}).get(contender, {}).pop(str(seed), None)
                        data["unavailable"].pop(contender, None)
                        busy_s += res["wall_s"]
                        asks = res["ask_s"]
                        log(f"{head} final regret {res['regret'][-1]:.3g}  run {res['wall_s']:.1f} s  "
                            f"ask {sum(asks) / len(asks):.3f} s/suggestion")
                    elif res["status"] == "unavailable":
                        unavailable.add((function, contender))
                        data["unavailable"][contender] = res["reason"]
                        log(f"{head} NOT AVAILABLE: {res['reason']} (skipping its other seeds here)")
                    else:
                        data["errors"].setdefault(str(budget), {}).setdefault(contender, {})[str(seed)] = res
                        log(f"{head} ERROR after {res.get('evaluations', '?')} evaluations: {res['reason']}")
                        for line in res.get("traceback", [])[-6:]:
                            log(f"      {line}")
                    save_results(out, data)
                    left = total - done - skipped
                    if done and left:
                        elapsed = time.perf_counter() - t0
                        log(f"      {left} runs left; elapsed {_fmt_s(elapsed)}, at this pace about "
                            f"{_fmt_s(elapsed / done * left)} more")
        except KeyboardInterrupt:
            log(f"interrupted: the {done} finished runs are saved in {out}; the {len(running)} runs in "
                f"progress are dropped; run the same command again to continue")
            procs = list(getattr(pool, "_processes", {}).values())  # the pool has no public way to stop them
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            raise
    log(f"done: {done} runs in {_fmt_s(time.perf_counter() - t0)} "
        f"({skipped} skipped as not available)")


def _lock_results(out: Path) -> Any:
    """Hold an exclusive lock on the results folder for this process's lifetime (None if taken)."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    f = open(out / ".lock", "w")  # noqa: SIM115 - kept open (and locked) until the process exits
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", nargs="+", default=None, choices=list(PROBLEMS), metavar="F",
                        help=f"functions to run (default: {', '.join(BASE_PROBLEMS)}; or any suite problem)")
    parser.add_argument("--suite", choices=["dev", "heldout", "all"], help="run the suite's problems of this "
                        "half (see suite.py) and print the per-half summary")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS),
                        metavar="C", help=f"contenders (default: all of {', '.join(CONTENDERS)})")
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds, first-seed .. first-seed+N-1 "
                        "(default 20)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=50, help="evaluations per run (default 50)")
    parser.add_argument("--budgets", type=int, nargs="+", metavar="B", help="several budgets, e.g. 30 50 100 "
                        "(each a separate set of runs; overrides --budget)")
    parser.add_argument("--workers", type=int, default=2, choices=[1, 2],
                        help="worker processes (default 2, at most 2)")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="folder of the <function>.json files")
    parser.add_argument("--plots", type=Path, default=None, help="folder of the bo_<function>.png plots "
                        "(default docs/img; with --suite, <results>/plots)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="run nothing; tables and plots from the JSON")
    args = parser.parse_args(argv)
    budgets = args.budgets or [args.budget]
    if args.seeds < 1 or min(budgets) < 1 or args.first_seed < 0:
        parser.error("--seeds and --budget(s) must be >= 1, --first-seed >= 0")
    if args.suite and args.functions:
        parser.error("give --suite or --functions, not both")
    if args.suite:
        from suite import names

        args.functions = names(args.suite)
    elif not args.functions:
        args.functions = list(BASE_PROBLEMS)
    if args.plots is None:
        args.plots = args.results / "plots" if args.suite else REPO / "docs" / "img"

    # Ctrl-C and kill (SIGTERM) both stop cleanly, also when started in the background (where an
    # inherited "ignore SIGINT" would otherwise stay in force).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)

    # One thread per worker: two workers on two cores, and comparable timings across libraries.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    datas = {f: load_results(args.results, f) for f in args.functions}
    lock = None if args.report_only else _lock_results(args.results)
    if not args.report_only and lock is None:
        log(f"another run.py is writing to {args.results}; wait for it, or give another --results folder")
        return 1
    for budget in budgets:
        tasks = [(f, c, s) for s in seeds for f in args.functions for c in args.contenders
                 if not stored_run(datas[f], budget, c, s)]
        have = len(seeds) * len(args.functions) * len(args.contenders) - len(tasks)
        if not args.report_only:
            log(f"{len(tasks)} runs to do, {have} already in {args.results} (budget {budget}, "
                f"seeds {seeds[0]}..{seeds[-1]}, {args.workers} workers)")
            if tasks:
                try:
                    execute(tasks, budget, args.workers, args.results, datas)
                except KeyboardInterrupt:
                    return 130

    for budget in budgets:
        for f in args.functions:
            data = datas[f]
            summary = summarize(data, budget, args.contenders, seeds)
            data["summary"][str(budget)] = summary
            data["summary_seeds"] = seeds
            save_results(args.results, data)
            print(table(data, summary, budget))
            if not args.no_plots:
                path = args.plots / (f"bo_{f}.png" if len(budgets) == 1 else f"bo_{f}_b{budget}.png")
                if plot(data, budget, args.contenders, seeds, path):
                    print(f"\nplot: {os.path.relpath(path, Path.cwd())}")
            print()
        if args.suite:
            from suite_report import half_report

            for half in (["dev", "heldout"] if args.suite == "all" else [args.suite]):
                print(half_report(half, datas, budget, args.contenders, seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
