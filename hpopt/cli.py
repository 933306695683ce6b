"""The ``hpopt`` command: ``run`` an experiment file, show a run's ``status``, ``plot`` it, ``export`` it,
watch it in a ``dashboard``.

    hpopt run experiment.json [--resume]
    hpopt status SAVE_PATH [--json]
    hpopt plot SAVE_PATH [--kind overview|curves|history|slice|parallel|contour|importance|all] [-o FILE_OR_DIR]
    hpopt export SAVE_PATH --csv FILE | --json FILE
    hpopt dashboard SAVE_PATH [SAVE_PATH ...] [--port 8080] [--host 127.0.0.1]

Exit codes: 0 done; 1 a trial failed and the run stopped (``ignore_fail`` false); 2 a bad experiment
file or argument, or a save_path that cannot be used (a file, or driven by another live controller);
128 + the signal number when Ctrl-C or SIGTERM stopped the run (it can be resumed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from .errors import HpoptError
from .experiment import ExperimentError, load_experiment

logger = logging.getLogger("hpopt")


def _error(message: str, code: int) -> int:
    print(f"hpopt: error: {message}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    """Run the trials of an experiment file in local processes until the run is finished."""
    from .adapters.local import RunInterrupted, TrialFailedError, run_local
    from .api import create

    try:
        exp = load_experiment(args.experiment)
    except ExperimentError as exc:
        return _error(str(exc), 2)
    try:
        hpo = create(**exp.create_kwargs(), resume=args.resume)
    except (TypeError, ValueError) as exc:
        return _error(f"{exp.path}: hpopt.create() refused the settings: {exc}", 2)
    except (OSError, HpoptError) as exc:  # save_path cannot be made, another controller drives it, ...
        return _error(f"{exp.path}: {exc}", 2)
    resume_hint = f"hpopt run {args.experiment} --resume"
    try:
        if exp.resources == "ray":
            from .adapters.ray import run_ray

            summary = run_ray(hpo, _in_workdir(exp.script, exp.workdir), n_parallel=exp.n_parallel,
                              job_retries=exp.job_retries, ignore_fail=exp.ignore_fail, timeout=exp.timeout,
                              env=exp.env, keep_top_k=exp.keep_top_k, progress=not args.no_progress, **exp.ray)
        else:
            summary = run_local(hpo, exp.script, n_parallel=exp.n_parallel, gpus_per_trial=exp.gpus_per_trial,
                                resources=exp.resources, job_retries=exp.job_retries, ignore_fail=exp.ignore_fail,
                                timeout=exp.timeout, workdir=exp.workdir, env=exp.env, keep_top_k=exp.keep_top_k,
                                progress=not args.no_progress)
    except TrialFailedError as exc:
        return _error(exc.describe(go_on=f'set "ignore_fail": true in {exp.path}', resume=f"`{resume_hint}`"), 1)
    except RunInterrupted as exc:
        print(f"hpopt: {exc}; every trial was stopped and the state saved. Continue with: {resume_hint}",
              file=sys.stderr)
        return 128 + exc.signum
    except (TypeError, ValueError, ImportError) as exc:
        return _error(str(exc), 2)
    except (RuntimeError, OSError) as exc:
        return _error(f"{exc}\nafter fixing it: {resume_hint}", 1)
    finally:
        hpo.close()
    print(f"hpopt: {summary.trials_done} trials done, {summary.trials_failed} failed, {summary.trials_retried} "
          f"retries, {summary.trials_oom} out of memory, in {summary.elapsed_s:.1f} s")
    if summary.best_trial_id is None:
        print("best: none (no trial reported a valid score)")
    else:
        print(f"best: trial {summary.best_trial_id}, score {summary.best_score:.6g}, params "
              f"{json.dumps(summary.best_config)}")
    for path in summary.kept_artifacts:
        print(f"artifacts kept: {path}")
    return 0


def _in_workdir(script: str | list[str], workdir: str) -> list[str]:
    """A Ray trial runs the script on a node, in its own folder: name a script in workdir by its full path
    (the same on every node, as with a shared image or file system; else ship it with runtime_env)."""
    import shlex

    argv = shlex.split(script) if isinstance(script, str) else list(script)
    if argv and (os.sep in argv[0] or argv[0].endswith(".py")) and not os.path.isabs(argv[0]):
        argv[0] = os.path.join(workdir, argv[0])
    return argv


def cmd_status(args: argparse.Namespace) -> int:
    from .views.run_status import format_table, run_status

    try:
        view = run_status(args.save_path)
    except (FileNotFoundError, ValueError) as exc:
        return _error(str(exc), 2)
    if args.json:
        for t in view["trials"]:
            t.pop("scores")
        json.dump(view, sys.stdout, indent=2)
        print()
    else:
        print(format_table(view))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw pictures of a run (read only: the run may still be going)."""
    from .views.plot import plot

    try:
        written = plot(args.save_path, args.kind, args.out, dpi=args.dpi)
    except (ImportError, FileNotFoundError, ValueError) as exc:
        return _error(str(exc), 2)
    except OSError as exc:  # the output cannot be written
        return _error(str(exc), 2)
    for path in written:
        print(f"hpopt: wrote {path}")
    if args.kind == "importance":
        from .views.importance import describe

        print(f"importance: {describe(args.save_path)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's trials, one row each, as CSV or JSON (read only: the run may still be going)."""
    import csv

    from .views.results import read_run

    target = args.csv if args.csv is not None else args.json
    try:
        results = read_run(args.save_path)
    except (FileNotFoundError, ValueError) as exc:
        return _error(str(exc), 2)
    records = results.as_records()
    try:
        out = sys.stdout if target == "-" else open(target, "w", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        return _error(f"cannot write {target!r}: {exc}", 2)
    try:
        if args.csv is not None:
            writer = csv.DictWriter(out, fieldnames=results.columns)
            writer.writeheader()
            writer.writerows(records)
        else:
            json.dump(records, out, indent=1)
            out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if target != "-":
        print(f"hpopt: wrote {len(records)} trials to {target}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve a live, read-only web page of the runs (charts need plotly: pip install 'hpopt[dashboard]')."""
    from .dashboard import make_server

    missing = [p for p in args.save_paths if not os.path.isdir(p)]
    if missing:
        return _error(f"no such folder: {', '.join(map(repr, missing))}", 2)
    try:
        server = make_server(args.save_paths, host=args.host, port=args.port)
    except ImportError as exc:
        return _error(str(exc), 2)
    except OSError as exc:  # the port is taken, the host cannot be bound
        return _error(f"cannot serve on {args.host}:{args.port}: {exc}", 2)
    print(f"hpopt: dashboard of {len(server.runs)} run(s) on {server.url} (read-only; Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpopt", description="Hyperparameter optimization runs from the shell.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every trial start and end")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the trials of an experiment file", description=cmd_run.__doc__)
    run.add_argument("experiment", help="the experiment file (JSON)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run stored in save_path (default: start over; the old run is archived)")
    run.add_argument("--no-progress", action="store_true", help="no live progress line on stderr")
    run.set_defaults(func=cmd_run)
    status = sub.add_parser("status", help="show the trials of a run and the best one")
    status.add_argument("save_path")
    status.add_argument("--json", action="store_true", help="print JSON for tools instead of a table")
    status.set_defaults(func=cmd_status)
    plot = sub.add_parser("plot", help="draw pictures of a run (needs matplotlib; contour and importance also "
                          "scikit-learn)", description=cmd_plot.__doc__)
    plot.add_argument("save_path")
    plot.add_argument("--kind", default="overview", metavar="KIND",
                      help="overview (default: learning curves beside the best score so far), curves, history, "
                           "slice, parallel, contour, importance, or all (each kind but overview, into a folder)")
    plot.add_argument("-o", "--out", "--output", dest="out", default=".", metavar="FILE_OR_DIR",
                      help="the image file to write (e.g. run.png), or a folder that gets KIND.png; a folder for "
                           "--kind all (default: the current folder)")
    plot.add_argument("--dpi", type=int, default=100, help="pixels per inch of the image (default 100)")
    plot.set_defaults(func=cmd_plot)
    export = sub.add_parser("export", help="write a run's trials as CSV or JSON, one row each",
                            description=cmd_export.__doc__)
    export.add_argument("save_path")
    where = export.add_mutually_exclusive_group(required=True)
    where.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-': standard output)")
    where.add_argument("--json", metavar="FILE", help="write a JSON list of objects to FILE ('-': standard output)")
    export.set_defaults(func=cmd_export)
    dash = sub.add_parser("dashboard", help="serve a live, read-only web page of runs (needs plotly)",
                          description=cmd_dashboard.__doc__)
    dash.add_argument("save_paths", nargs="+", metavar="SAVE_PATH")
    dash.add_argument("--port", type=int, default=8080, help="the port to serve on (default 8080; 0 picks one)")
    dash.add_argument("--host", default="127.0.0.1",
                      help="the address to bind (default 127.0.0.1: this machine only; the page has no login)")
    dash.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="hpopt %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `hpopt status --json | head`: the reader left; that is not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
