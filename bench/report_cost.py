"""What one ``hpopt.report()`` costs as the trial it reports to grows: at 10, 100, 1 000 and 10 000 scores.

A trainer that reports every step (not every epoch) makes thousands of reports in one trial. Each report
must cost the same whatever the trial already holds; before the store redesign every report rewrote the
whole trial file, so the cost grew with the number of scores and a long trial paid O(n²).

Public API only. For each implementation (``--impl LABEL=PATH``: PATH goes first on ``PYTHONPATH`` of a
child process, so ``--impl before=/path/to/an/older/checkout`` measures an older hpopt beside this one; an
empty PATH, or no ``--impl`` at all, is the hpopt the child imports anyway, e.g. through ``PYTHONPATH``)
and each mark n, a child process creates a one-trial random search (``hpopt.create(search_alg="random",
num_trials=1, subset_ratio=1.0, max_iterations=n + 100, ...)``) with its save_path in a fresh temp folder
under ``--dir`` (``/dev/shm`` for a RAM disk; the default is the current directory, i.e. the current
disk), calls ``get_next_sample()`` once, then ``report()`` n + 25 times and times every call; the table
gives the median and mean microseconds of the 50 calls around the n-th (calls n-25 .. n+24). The
implementations run one after the other for each mark, so load changes hit them alike. Nothing is
sampled or skipped: reaching mark n takes n real reports, so with a store whose report cost grows with
n the 10 000 mark dominates the run (the pre-redesign file store: about 1.5 minutes on the disk).

``--storage NAME`` is passed as ``hpopt.create(storage=NAME)`` (e.g. ``memory``; hpopt 0.4 has no such
argument, so it is passed only when given). ``--json FILE`` writes every row, with the module the child
imported (check it is the hpopt you meant).

    python bench/report_cost.py                                  # the hpopt on PYTHONPATH, current disk
    python bench/report_cost.py --dir /dev/shm --json shm.json   # on a RAM disk
    python bench/report_cost.py --storage memory
    python bench/report_cost.py --impl now= --impl before=/tmp/hpopt-0.4 --dir /dev/shm --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, shutil, sys, tempfile, time
import hpopt
folder = tempfile.mkdtemp(dir=sys.argv[1])
n = int(sys.argv[2])
extra = {"storage": sys.argv[3]} if len(sys.argv) > 3 else {}
try:
    hpo = hpopt.create(full_dataset_size=100, num_full_iterations=n + 100, search_space={
        "x": hpopt.search_space("uniform", [0, 1])}, save_path=folder, search_alg="random", num_trials=1,
        max_iterations=n + 100, subset_ratio=1.0, seed=0, **extra)
    cfg = hpo.get_next_sample()
    times = []
    for i in range(n + 25):
        t = time.perf_counter()
        hpopt.report(cfg, 0.5 + 1e-6 * i)
        times.append(time.perf_counter() - t)
    hpo.close()
    print(json.dumps({"file": hpopt.__file__, "window": times[max(0, n - 25):n + 25], "total_s": sum(times)}))
finally:
    shutil.rmtree(folder, ignore_errors=True)
"""


def measure(path: str, folder: str, n: int, storage: str | None) -> dict:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-c", CHILD, folder, str(n)] + ([storage] if storage else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode:
        sys.exit(f"the child failed ({path or 'PYTHONPATH'}, {n} scores):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", action="append", default=[], help="LABEL=PATH (repeatable; PATH may be empty)")
    parser.add_argument("--marks", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--dir", default=".", help="folder for the runs' save_paths (e.g. /dev/shm)")
    parser.add_argument("--storage", help="passed as hpopt.create(storage=...) (e.g. memory); omitted if not given")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    impls = [tuple(i.split("=", 1)) for i in args.impl] or [("hpopt", "")]
    folder = os.path.abspath(args.dir)  # the children run in the temp folder: a relative --dir would move
    rows = []
    storage = f", storage={args.storage!r}" if args.storage else ""
    print(f"report() cost, state under {folder}{storage}\n")
    print("| hpopt | scores in the trial | median µs | mean µs | child's report() total s |")
    print("|---|---:|---:|---:|---:|")
    for n in args.marks:
        for label, path in impls:
            res = measure(path, folder, n, args.storage)
            us = [t * 1e6 for t in res["window"]]
            row = {"impl": label, "module": res["file"], "dir": folder, "storage": args.storage, "scores": n,
                   "calls": len(us), "median_us": statistics.median(us), "mean_us": statistics.fmean(us),
                   "total_s": res["total_s"]}
            rows.append(row)
            print(f"| {label} | {n} | {row['median_us']:.0f} | {row['mean_us']:.0f} | {row['total_s']:.1f} |",
                  flush=True)
    print("\nmodules: " + ", ".join(sorted({f"{r['impl']}: {r['module']}" for r in rows})))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
