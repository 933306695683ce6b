"""The dashboard under load: ``/api/run/<i>`` refreshes of a 10 000-trial run, idle and while 8 trainer
processes report at full speed into a live run served beside it; then a check that no report was lost.

1. Builds (or reuses, ``--save-path``) a finished run of ``--trials`` trials on the file store: a random
   search (``num_trials=N, max_iterations=3, subset_ratio=1.0``) whose loop calls ``get_next_sample()``
   and reports 3 scores per trial; prints how long that took. The default folder is under ``/dev/shm``
   (a RAM disk) when there is one, else the temp dir.
2. Starts the dashboard in this process (``hpopt.dashboard.make_server`` on port 0, served in a thread)
   for two runs: run 0 the big run, run 1 a live run. Its handler is a subclass, here in the bench, that
   times ``do_GET`` on the server (``time.perf_counter`` around the whole handler, body written to the
   socket included): the "server time". The client time (urllib on 127.0.0.1, one connection a
   request) is printed beside it.
3. Measures run 0: the first (cold) refresh; the background importance fit it starts; ``--refreshes``
   steady refreshes while idle; then ``--refreshes`` steady refreshes of run 0 and of run 1, alternately,
   while the live run goes: a controller process issues trials of ``--live-iterations`` epochs
   (random search) to ``--workers`` trainer processes that call ``hpopt.report`` as fast as they can
   and log every report that returned.
4. Stops the live run (the controller issues nothing more, the trainers finish their trials, the
   controller closes) and compares each trainer's returned reports with the trial records: lost = reports
   that returned but are not in the record.

    python bench/dashboard_load.py                                 # build 10 000 trials under /dev/shm
    python bench/dashboard_load.py --save-path /dev/shm/dash10k    # build once there, reuse afterwards
    python bench/dashboard_load.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from typing import Any

import hpopt
from hpopt.dashboard import make_server, serve_in_thread
from hpopt.dashboard.server import DashboardHandler
from hpopt.state import FileStore, load_status

SPACE = {
    "lr": hpopt.search_space("loguniform", [1e-4, 1.0]),
    "width": hpopt.search_space("quniform", [16, 256, 16]),
    "optimizer": hpopt.search_space("choice", ["sgd", "adam", "rmsprop"]),
}


def build(save_path: str, trials: int) -> float:
    """A finished random search of ``trials`` trials of 3 epochs; the seconds it took."""
    t0 = time.perf_counter()
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=3, search_space=SPACE, save_path=save_path,
                       search_alg="random", num_trials=trials, max_iterations=3, subset_ratio=1.0, seed=0)
    for i in range(trials):
        cfg = hpo.get_next_sample()
        for epoch in range(3):
            hpopt.report(config=cfg, score=0.5 + 1e-5 * i + 0.01 * epoch)
    hpo.close()
    return time.perf_counter() - t0


# --- the live run: a controller process and its trainer processes --------------------------------


def trainer(tasks: Any, done: Any, log_path: str) -> None:
    """Report every epoch of each trial handed over, as fast as possible; log each report that returned."""
    with open(log_path, "a") as log:
        while (config := tasks.get()) is not None:
            for epoch in range(1, config["iterations"] + 1):
                status = hpopt.report(config=config, score=0.1 + 1e-4 * epoch)
                log.write(f"{config['trial_id']},{config['attempt']},{epoch}\n")
                if status == hpopt.Status.STOP:
                    break
            log.flush()
            done.put(config["trial_id"])


def controller(save_path: str, workers: int, iterations: int, log_dir: str, stop: Any, started: Any) -> None:
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=iterations, search_space=SPACE,
                       save_path=save_path, search_alg="random", num_trials=1_000_000,
                       max_iterations=iterations, subset_ratio=1.0, seed=1)
    ctx = mp.get_context("fork")  # the controller was spawned: a fresh, single-threaded process to fork
    tasks, done = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=trainer, args=(tasks, done, os.path.join(log_dir, f"trainer_{i}.log")))
             for i in range(workers)]
    for p in procs:
        p.start()
    busy = 0
    started.set()
    while not stop.is_set():
        while busy < workers and (config := hpo.get_next_sample()) is not None:
            tasks.put(config)
            busy += 1
        done.get()
        busy -= 1
    while busy:
        done.get()
        busy -= 1
    for _ in procs:
        tasks.put(None)
    deadline = time.monotonic() + 30
    for p in procs:  # idle trainers have logged every report that returned: killing one loses nothing
        p.join(max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            print(f"trainer {p.pid} did not stop within 30 s; killed", flush=True)
            p.kill()
    hpo.get_next_sample()  # collects the trials that just ended (issues one more, never reported)
    hpo.close()


def lost_reports(save_path: str, log_dir: str) -> tuple[int, int, int]:
    """(reports that returned, reports in the trial records for those attempts, lost)."""
    returned: dict[tuple[int, int], int] = {}
    for name in os.listdir(log_dir):
        with open(os.path.join(log_dir, name)) as f:
            for line in f:
                tid, attempt, _ = (int(x) for x in line.split(","))
                returned[(tid, attempt)] = returned.get((tid, attempt), 0) + 1
    store = FileStore(save_path)
    recorded = lost = 0
    for (tid, attempt), n in returned.items():
        record = store.read_trial(tid)
        have = 0 if record is None or record.doc.get("attempt", attempt) != attempt else len(record.scores)
        recorded += min(have, n)
        lost += max(0, n - have)
    return sum(returned.values()), recorded, lost


# --- the server, timed on the server side --------------------------------------------------------


class TimedHandler(DashboardHandler):
    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        t0 = time.perf_counter()
        super().do_GET()
        self.server.timings.append((self.path, time.perf_counter() - t0))  # type: ignore[attr-defined]


_REQUESTS = iter(range(1 << 62))


def fetch(server: Any, index: int) -> tuple[float, float, int]:
    """(server seconds, client seconds, body bytes) of one GET /api/run/<index>."""
    path = f"/api/run/{index}?n={next(_REQUESTS)}"  # the server ignores the query; it names the timing
    t0 = time.perf_counter()
    with urllib.request.urlopen(server.url + path[1:], timeout=300) as r:
        body = r.read()
    client = time.perf_counter() - t0
    # The handler records its time just after the client got the last byte: wait for it (sleeping lets
    # the server thread take the GIL) before parsing 4 MB of JSON, which would hold the GIL meanwhile.
    for _ in range(10_000):
        seconds = dict(server.timings).get(path)
        if seconds is not None:
            break
        time.sleep(0.001)
    else:
        raise RuntimeError(f"no server time recorded for {path}")
    doc = json.loads(body)
    if doc.get("error"):
        raise RuntimeError(doc["error"])
    return seconds, client, len(body)


def stats(samples: list[tuple[float, float, int]]) -> dict[str, float]:
    srv = sorted(s for s, _, _ in samples)
    cli = sorted(c for _, c, _ in samples)

    def p95(xs: list[float]) -> float:
        return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]

    return {"n": len(samples), "server_median_ms": 1e3 * statistics.median(srv), "server_p95_ms": 1e3 * p95(srv),
            "client_median_ms": 1e3 * statistics.median(cli), "client_p95_ms": 1e3 * p95(cli),
            "body_kb": samples[-1][2] / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--save-path", default=None, help="the big run: built here when it holds no run, else reused")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--live-iterations", type=int, default=100, help="epochs (reports) per live trial")
    parser.add_argument("--refreshes", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between refreshes")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    scratch = tempfile.mkdtemp(prefix="hpopt_dash_", dir=base)
    out: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "trials": args.trials,
                           "workers": args.workers}
    try:
        big = args.save_path or os.path.join(scratch, "big")
        if load_status(big) is None:
            out["build_s"] = build(big, args.trials)
            print(f"built {args.trials} trials in {big}: {out['build_s']:.1f} s", flush=True)
        else:
            print(f"reusing {big}", flush=True)
        t0 = time.perf_counter()
        load_status(big)
        out["load_status_ms"] = 1e3 * (time.perf_counter() - t0)

        live, log_dir = os.path.join(scratch, "live"), os.path.join(scratch, "logs")
        os.makedirs(log_dir)
        server = make_server([big, live], port=0)
        server.RequestHandlerClass = TimedHandler
        server.timings = []  # type: ignore[attr-defined]
        serve_in_thread(server)
        cleanup: list[Any] = []
        try:
            run0 = server.runs[0]
            cold = fetch(server, 0)
            out["cold"] = {"server_ms": 1e3 * cold[0], "client_ms": 1e3 * cold[1], "body_kb": cold[2] / 1024}
            print(f"cold refresh: server {1e3 * cold[0]:.0f} ms, client {1e3 * cold[1]:.0f} ms", flush=True)
            t0 = time.perf_counter()
            while run0._importance_job is not None and run0._importance_job.is_alive():
                time.sleep(0.1)
            out["importance_bg_s"] = time.perf_counter() - t0
            print(f"importances in the background: {out['importance_bg_s']:.1f} s more", flush=True)
            fetch(server, 0)  # the answer with the importances in it
            idle = []
            for _ in range(args.refreshes):
                idle.append(fetch(server, 0))
                time.sleep(args.pause)
            out["idle"] = stats(idle)
            print("idle:", out["idle"], flush=True)

            ctx = mp.get_context("spawn")  # not fork: this process has threads (the server's)
            stop, started = ctx.Event(), ctx.Event()
            ctl = ctx.Process(target=controller, args=(live, args.workers, args.live_iterations, log_dir, stop,
                                                       started))
            ctl.start()
            cleanup.append(lambda: (stop.set(), ctl.join(60), ctl.kill() if ctl.is_alive() else None))
            started.wait(60)
            time.sleep(2.0)  # the trainers get going
            loaded0, loaded1 = [], []
            t_live = time.perf_counter()
            for _ in range(args.refreshes):
                loaded0.append(fetch(server, 0))
                loaded1.append(fetch(server, 1))
                time.sleep(args.pause)
            out["live_s"] = time.perf_counter() - t_live
            out["loaded_run0"] = stats(loaded0)
            out["loaded_live"] = stats(loaded1)
            print("loaded:", out["loaded_run0"], "\nlive:", out["loaded_live"], flush=True)
            stop.set()
            ctl.join(300)
            out["live_trials"] = len(server.runs[1].payload()["rows"])
            t0 = time.perf_counter()
            load_status(live)
            out["live_load_status_ms"] = 1e3 * (time.perf_counter() - t0)
        finally:
            for undo in cleanup:
                undo()
            server.shutdown()
            server.server_close()
        returned, recorded, lost = lost_reports(live, log_dir)
        out.update(reports_returned=returned, reports_recorded=recorded, reports_lost=lost)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = [
        ("build the run (10 000 trials x 3 reports)" if args.trials == 10_000 else f"build ({args.trials} trials)",
         f"{out['build_s']:.1f} s" if "build_s" in out else "reused", ""),
        ("`load_status` of the big run (checkpoint + journal)", f"{out['load_status_ms']:.0f} ms", ""),
        ("cold refresh of the big run", f"{out['cold']['server_ms']:.0f} ms", f"{out['cold']['client_ms']:.0f} ms"),
        ("importances (background thread, after the cold refresh)", f"{out['importance_bg_s']:.1f} s", ""),
    ]
    for label, key in (("steady refresh of the big run, idle", "idle"),
                       (f"steady refresh of the big run, {args.workers} trainers reporting", "loaded_run0"),
                       (f"steady refresh of the live run ({out['live_trials']} trials at the end)", "loaded_live")):
        s = out[key]
        rows.append((f"{label} (median / p95 of {s['n']})",
                     f"{s['server_median_ms']:.1f} / {s['server_p95_ms']:.1f} ms",
                     f"{s['client_median_ms']:.1f} / {s['client_p95_ms']:.1f} ms"))
    rows.append(("reports returned to trainers / in the records / lost",
                 f"{out['reports_returned']} / {out['reports_recorded']} / {out['reports_lost']}", ""))
    print()
    print("| measure | server time | client time (urllib, 127.0.0.1) |")
    print("|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\nbig run answer: {out['idle']['body_kb']:.0f} KiB; live phase {out['live_s']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if out["reports_lost"]:
        sys.exit(f"{out['reports_lost']} reports lost")


if __name__ == "__main__":
    main()
