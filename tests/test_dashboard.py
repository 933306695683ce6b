"""`hpopt dashboard`: the JSON API over real runs (HTTP, no browser), read-only by construction, and the
page in a real headless Chromium (Selenium; skipped where no chromium/chromedriver is installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest
import workloads

import hpopt
from hpopt import cli
from hpopt.views.run_status import run_status

pytest.importorskip("plotly", reason="the dashboard needs plotly: pip install 'hpopt[dashboard]'")
from hpopt.dashboard import make_server, serve_in_thread  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRATCH = "/work/scratch"
XSS_NAME = "<script>x</script>"
XSS_CHOICE = "<img src=x onerror=alert(1)>"


def space():
    return {"learning_rate_zz": hpopt.search_space("loguniform", [1e-4, 1e-1]),
            "width": hpopt.search_space("quniform", [8, 64, 8]),
            "opt": hpopt.search_space("choice", ["sgd", "adam"])}


def make(save_path, **kw):
    args = {"full_dataset_size": 0, "num_full_iterations": 3, "search_space": space(), "search_alg": "random",
            "num_trials": 8, "max_iterations": 3, "seed": 4, "save_path": str(save_path)}
    args.update(kw)
    return hpopt.create(**args)


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def get_json(url):
    code, body = get(url)
    return code, json.loads(body)


def listing(folder):
    """Every path under folder with its (mtime_ns, size): what a read-only reader must leave alone."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            out[os.path.relpath(path, folder)] = (st.st_mtime_ns, st.st_size)
    return out


@pytest.fixture
def serve():
    servers = []

    def start(*save_paths):
        server = make_server([str(p) for p in save_paths], port=0)
        serve_in_thread(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_trials(save_path, trials, step):
    """A closed run in ``save_path`` whose trial i scores ``step * i + 0.01 * epoch`` over 3 epochs."""
    hpo = make(save_path)
    for i in range(trials):
        cfg = hpo.get_next_sample()
        for epoch in range(3):
            hpopt.report(config=cfg, score=step * i + 0.01 * epoch)
    hpo.close()
    return save_path


@pytest.fixture
def finished_run(tmp_path):
    return run_trials(tmp_path / "run", 6, 0.1)


def test_api_rows_and_scores_match_the_trial_records(finished_run, serve):
    server = serve(finished_run)
    assert server.server_address[0] == "127.0.0.1"
    _, runs = get_json(server.url + "api/runs")
    assert [r["save_path"] for r in runs] == [str(finished_run)]
    code, run = get_json(server.url + "api/run/0")
    assert code == 200 and run["error"] is None
    expected = hpopt.load_results(finished_run, as_records=True)
    assert run["rows"] == json.loads(json.dumps(expected)) and len(run["rows"]) == 6
    for row in run["rows"]:
        doc = hpopt.load_json(finished_run / f"hpopt_trial_{row['trial_id']}.json")
        assert run["scores"][str(row["trial_id"])] == doc["scores"]
        assert {k: row["params_" + k] for k in doc["params"]} == doc["params"]
    summary = run["summary"]
    assert (summary["algorithm"], summary["mode"]) == ("random", "max")
    assert summary["plan"] == run_status(str(finished_run))["plan"]  # the plan as `hpopt status` shows it
    assert summary["plan"]["trials_planned"] == 8
    assert summary["best"]["trial_id"] == 5 and summary["best"]["score"] == pytest.approx(0.52)
    assert [h["best"] for h in run["history"]] == pytest.approx([0.1 * i + 0.02 for i in range(6)])
    assert run["params"] == ["learning_rate_zz", "width", "opt"]
    imp = run["importance"]
    assert imp["values"] is not None or "scikit-learn" in imp["note"]


def test_a_new_report_shows_in_the_next_fetch_and_only_changed_trials_are_read(tmp_path, serve):
    save = tmp_path / "live"
    hpo = make(save)
    try:
        first, second = hpo.get_next_sample(), hpo.get_next_sample()
        hpopt.report(config=first, score=0.5)
        hpopt.report(config=second, score=0.1)
        server = serve(save)
        _, run = get_json(server.url + "api/run/0")
        assert run["scores"] == {"0": [0.5], "1": [0.1]}
        assert [r["status"] for r in run["rows"]] == ["running", "running"]
        reads = server.runs[0].cache.reads
        hpopt.report(config=first, score=0.75)
        _, run = get_json(server.url + "api/run/0")
        assert run["scores"] == {"0": [0.5, 0.75], "1": [0.1]}
        assert run["rows"][0]["best_score"] == 0.75 and run["rows"][0]["epochs"] == 2
        assert server.runs[0].cache.reads == reads + 1  # trial 1 did not change: not read again
        _, run = get_json(server.url + "api/run/0")
        assert server.runs[0].cache.reads == reads + 1
    finally:
        hpo.close()


def test_asha_rungs_and_stopped_trials(tmp_path, serve):
    save = tmp_path / "asha"
    hpo = make(save, search_space=workloads.space(), search_alg="asha", num_trials=12, max_iterations=9,
               num_full_iterations=9, min_iterations=1, reduction_factor=3, num_brackets=2, seed=2,
               sampler="random")  # random draws stop at rungs; a model's ever better proposals may all go on
    workloads.run_loop(hpo)
    rungs = hpo.rungs_in_brackets
    hpo.close()
    _, run = get_json(serve(save).url + "api/run/0")
    assert run["error"] is None and run["rungs_in_brackets"] == rungs
    assert run["summary"]["algorithm"] == "asha"
    assert any(r["status"] == "stopped" for r in run["rows"])
    for row in run["rows"]:
        assert len(run["scores"][str(row["trial_id"])]) == row["epochs"]
        assert row["rung"] == max(x for x in rungs[row["bracket"]] if x <= row["epochs"])


def test_damaged_or_missing_runs_give_an_error_field_not_a_500(finished_run, tmp_path, serve):
    damaged = tmp_path / "damaged"
    shutil.copytree(finished_run, damaged)
    (damaged / "hpopt_status.json").write_text("{not json")
    server = serve(finished_run, damaged, tmp_path / "nothing_here")
    code, run = get_json(server.url + "api/run/1")
    assert code == 200 and run["error"] and "hpopt_status.json" in run["error"]
    code, run = get_json(server.url + "api/run/2")
    assert code == 200 and "holds no hpopt run" in run["error"]
    assert get_json(server.url + "api/run/0")[1]["error"] is None  # the others are still served
    with pytest.raises(urllib.error.HTTPError) as err:
        get(server.url + "api/run/7")
    assert err.value.code == 404


def test_the_dashboard_writes_nothing_and_refuses_writes(finished_run, serve):
    before = listing(finished_run)
    server = serve(finished_run)
    for path in ("", "app.js", "api/runs", "api/run/0", "api/run/0"):
        assert get(server.url + path)[0] == 200
    request = urllib.request.Request(server.url + "api/run/0", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 405
    assert listing(finished_run) == before


def test_the_page_holds_no_run_data_and_plotly_is_served_locally(finished_run, serve):
    server = serve(finished_run)
    _, page = get(server.url)
    text = page.decode()
    assert "learning_rate_zz" not in text and str(finished_run) not in text and "/api/run/" not in text
    assert 'src="/static/plotly.min.js"' in text and "http" not in text  # no CDN
    _, script = get(server.url + "app.js")
    assert b"innerHTML" not in script
    code, plotly_js = get(server.url + "static/plotly.min.js")
    assert code == 200 and len(plotly_js) > 1_000_000


def test_cli_serves_and_names_the_extra_without_plotly(finished_run, tmp_path, monkeypatch, capsys):
    proc = subprocess.Popen([sys.executable, "-m", "hpopt.cli", "dashboard", str(finished_run), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "read-only" in line and "http://127.0.0.1:" in line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert get_json(url + "api/runs")[1][0]["save_path"] == str(finished_run)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert cli.main(["dashboard", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "plotly", None)
    assert cli.main(["dashboard", str(finished_run), "--port", "0"]) == 2
    assert "pip install 'hpopt[dashboard]'" in capsys.readouterr().err


# --- the page in a real browser ------------------------------------------------------------------------

def _browser_paths():
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None)
    return browser, shutil.which("chromedriver")


TRAINER = textwrap.dedent("""
    import sys, time
    import hpopt
    save, xss = sys.argv[1], sys.argv[2] == "xss"
    space = {"x": hpopt.search_space("uniform", [0, 1]),
             "opt": hpopt.search_space("choice", ["sgd", "adam"])}
    if xss:
        space[%r] = hpopt.search_space("choice", [%r])
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=3, search_space=space, search_alg="random",
                       num_trials=8, max_iterations=3, seed=2, save_path=save)
    print("ready", flush=True)
    for i in range(8):
        cfg = hpo.get_next_sample()
        for epoch in range(3):
            time.sleep(0.15)
            hpopt.report(config=cfg, score=0.1 * i + 0.01 * epoch)
    hpo.get_next_sample()
    hpo.close()
""") % (XSS_NAME, XSS_CHOICE)


@pytest.fixture
def browser():
    chromium, driver_path = _browser_paths()
    if chromium is None or driver_path is None:
        pytest.skip("no chromium/chromedriver binary found (apt-get install chromium chromium-driver) for the "
                    "dashboard's browser tests")
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,2600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _live_run(tmp_path, xss=False):
    save = tmp_path / "live"
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, str(save), "xss" if xss else "plain"],
                            stdout=subprocess.PIPE, text=True, cwd=HERE)
    assert proc.stdout.readline().strip() == "ready"
    return save, proc


def _wait(driver, condition, timeout=30):
    """Until ``condition`` holds; a live page re-renders while it is read, so a stale element means "again"."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: condition(d))


def _click_header(driver, prefix: str) -> bool:
    """Click the trials table's column header starting with ``prefix`` (a stale header is not clicked:
    _wait finds it again)."""
    from selenium.webdriver.common.by import By

    next(th for th in driver.find_elements(By.CSS_SELECTOR, "#trials th") if th.text.startswith(prefix)).click()
    return True


def _rows(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#trials tbody tr")


def test_browser_follows_a_live_run_sorts_and_filters(tmp_path, serve, browser):
    from selenium.webdriver.common.by import By

    save, proc = _live_run(tmp_path)
    try:
        server = serve(save)
        browser.get(server.url)
        _wait(browser, lambda d: len(_rows(d)) >= 1)
        first_best = _wait(browser, lambda d: (d.find_elements(By.ID, "best-score") or [None])[0]).text
        _wait(browser, lambda d: d.find_element(By.ID, "best-score").text != first_best)  # a new best arrived
        assert proc.wait(timeout=30) == 0
        _wait(browser, lambda d: len(_rows(d)) == 8 and d.find_element(By.ID, "best-score").text.startswith("0.72"))
        _wait(browser, lambda d: _click_header(d, "best_score"))
        _wait(browser, lambda d: _click_header(d, "best_score"))  # descending
        _wait(browser, lambda d: _rows(d)[0].get_attribute("data-trial") == "7")
        browser.find_element(By.ID, "filter").send_keys("adam")
        _wait(browser, lambda d: all("adam" in r.text for r in _rows(d)) and 0 < len(_rows(d)) < 8)
        browser.find_element(By.ID, "filter").clear()
        browser.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
        _wait(browser, lambda d: len(_rows(d)) == 8)
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#curves .main-svg"))
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#parallel .main-svg"))
        os.makedirs(SCRATCH, exist_ok=True)
        browser.save_screenshot(os.path.join(SCRATCH, "dashboard_live.png"))
        assert browser.find_element(By.ID, "error").text == ""
    finally:
        proc.kill()
        proc.wait()


def test_browser_shows_markup_in_names_and_values_as_text(tmp_path, serve, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    save, proc = _live_run(tmp_path, xss=True)
    try:
        assert proc.wait(timeout=30) == 0
        server = serve(save)
        browser.get(server.url)
        _wait(browser, lambda d: len(_rows(d)) == 8)
        headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#trials th")]
        assert XSS_NAME in headers
        cells = browser.find_elements(By.XPATH, f"//td[text()='{XSS_CHOICE}']")
        assert len(cells) == 8  # every finished trial shows the value as text
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#parallel .main-svg"))
        time.sleep(0.5)
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 - raises when there is no alert
        assert browser.find_elements(By.CSS_SELECTOR, "img") == []  # no element was injected
        assert all(s.get_attribute("src") for s in browser.find_elements(By.TAG_NAME, "script"))
        assert XSS_NAME in browser.find_element(By.ID, "slices").text  # the slice title, as text
        assert XSS_CHOICE in browser.find_element(By.ID, "parallel").text
        assert "&lt;" not in browser.find_element(By.TAG_NAME, "body").text  # nor escaped twice
        browser.save_screenshot(os.path.join(SCRATCH, "dashboard_xss.png"))
    finally:
        proc.kill()
        proc.wait()


def test_refreshes_reuse_rows_and_answers_and_skip_collected_trials(tmp_path, monkeypatch):
    """A refresh rebuilds only the rows of changed trials, serves the same bytes when nothing changed, does
    not poll trials the controller collected after they ended, and always matches load_results."""
    from hpopt.dashboard import RunSource
    from hpopt.state import load_status

    save = tmp_path / "incremental"
    hpo = make(save, num_trials=20)
    try:
        for i in range(6):
            cfg = hpo.get_next_sample()
            for epoch in range(3):
                hpopt.report(config=cfg, score=0.1 * i + 0.01 * epoch)
        running = [hpo.get_next_sample(), hpo.get_next_sample()]  # collects the six finished trials too
        for cfg in running:
            hpopt.report(config=cfg, score=0.3)
        src = RunSource(save)
        polled = []
        real_poll = src.cache.store.poll_trial
        monkeypatch.setattr(src.cache.store, "poll_trial", lambda tid: polled.append(tid) or real_poll(tid))

        def check(run):
            assert run["error"] is None
            assert run["rows"] == json.loads(json.dumps(hpopt.load_results(save, as_records=True)))
            for row in run["rows"]:
                doc = hpopt.load_json(save / f"hpopt_trial_{row['trial_id']}.json")
                assert run["scores"][str(row["trial_id"])] == doc["scores"]

        first = src.body()
        check(json.loads(first))
        assert src.rebuilt_rows == 8
        polled.clear()
        assert src.body() is first  # nothing changed: the same answer, no row rebuilt
        assert sorted(polled) == [6, 7] and src.rebuilt_rows == 8  # the collected trials were not polled

        hpopt.report(config=running[0], score=0.9)
        run = json.loads(src.body())
        check(run)
        assert src.rebuilt_rows == 9 and run["rows"][6]["best_score"] == 0.9

        hpo.get_next_sample()  # a new trial: the journal grew, only its new records are replayed
        run = json.loads(src.body())
        check(run)
        assert len(run["rows"]) == 9 and src.rebuilt_rows == 10
        for _ in range(10):  # enough changes for a checkpoint too: the status still matches load_status
            hpopt.report(config=hpo.get_next_sample(), score=0.2)
            src.body()
            assert src._status == load_status(str(save))
    finally:
        hpo.close()


def test_importances_are_computed_again_in_the_background(finished_run, tmp_path):
    from hpopt.dashboard import RunSource

    src = RunSource(finished_run)
    src.SYNC_IMPORTANCE_MAX = 0  # as for a large run
    run = src.payload()
    assert run["importance"]["values"] is None and "computing" in run["importance"]["note"]
    src._importance_job.join(120)
    imp = src.payload()["importance"]
    assert imp["values"] is not None or "scikit-learn" in imp["note"]
    assert src._importance_job is None


def test_browser_shows_several_runs_side_by_side(finished_run, tmp_path, serve, browser):
    """hpopt dashboard DIR1 DIR2: a row per run (its best score, trials of the plan) and one chart with
    each run's best-so-far curve; a run that cannot be read shows its error in its row."""
    from selenium.webdriver.common.by import By

    other = run_trials(tmp_path / "other", 4, 0.05)
    server = serve(finished_run, other, tmp_path / "no_run_here")
    browser.get(server.url)
    rows = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")
                 if len(d.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")) == 3 else None)
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    for row, save in zip(cells, (finished_run, other), strict=False):
        view = run_status(str(save))
        plan = view["plan"]
        assert row[1] == str(save) and row[3] == f"{plan['trials_finished']} / {plan['trials_planned']}"
        assert float(row[4]) == pytest.approx(view["best"]["score"], rel=1e-4)
    assert cells[0][4] != cells[1][4]
    assert cells[2][2].startswith("error:")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#compare .main-svg"))
    legend = browser.find_element(By.ID, "compare").text
    assert str(finished_run) in legend and str(other) in legend
    browser.save_screenshot("/work/scratch/dashboard_compare.png" if os.path.isdir("/work/scratch")
                            else str(tmp_path / "compare.png"))
