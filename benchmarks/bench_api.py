"""Load benchmark of the HTTP API: throughput, p50/p99 latency and errors of GET /users/{id}/recommendations.

    python benchmarks/bench_api.py                      # 16 connections, 10 s, after a warm-up pass
    python benchmarks/bench_api.py --connections 64 --duration 20 --n 20
    python benchmarks/bench_api.py --fold-in-burst 100   # /health latency while 100 clients fold in
    python benchmarks/bench_api.py --release ml-25m      # serving at scale (issue 11): see main_scale

The server (`kedro serve`, one uvicorn process) runs as a subprocess on 127.0.0.1 and is stopped at the
end. It serves the real artifacts of `kedro run` when data/06_models/ml-100k/recommender.pkl exists; otherwise
it serves a model fitted here in a temporary copy of the project, on the real archive ($MOVIELENS_100K or
../shared/datasets/ml-100k.zip) when there is one, else on synthetic data. The load comes from a separate
process: `wrk` (Debian: apt-get install wrk) with a Lua script spreading requests over every user id, or,
without wrk, a Python client in its own processes. Bounded: --duration seconds of load, timeouts on all.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import pickle
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # the project's code, without installing it
MODEL = Path("data/06_models/ml-100k/recommender.pkl")
MOVIES = Path("data/02_intermediate/ml-100k/movies.csv")
COUNTS = Path("data/03_primary/ml-100k/movie_rating_counts.csv")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env() -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}


def project_with_artifacts(workdir: Path, fresh: bool = False) -> tuple[Path, str]:
    """The project root to serve and where its model comes from."""
    if not fresh and all((ROOT / path).is_file() for path in (MODEL, MOVIES, COUNTS)):
        return ROOT, "the artifacts of your last `kedro run`"
    root = workdir / "project"
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root)
    from tests.conftest import make_members, real_archive, write_zip

    archive = real_archive()
    source = f"a model fitted now on the real archive {archive}"
    if archive is None:
        archive = write_zip(make_members(n_users=900, n_movies=900, density=0.1), workdir / "synthetic.zip")
        source = "a model fitted now on synthetic data (900 users x 900 movies)"
    command = [sys.executable, "-m", "kedro", "run", "--pipelines", "data_processing,modeling"]  # what serve needs
    run = subprocess.run(
        [*command, "--params", "min_user_ratings=1,min_movie_ratings=1"] if "synthetic" in source else command,
        cwd=root,
        env={**env(), "MOVIELENS_100K": str(archive)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if run.returncode:
        sys.exit(f"kedro run failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    return root, source


def start_server(
    root: Path, port: int, log, access_log: bool = True, args: tuple[str, ...] = (), timeout: float = 120
) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "kedro", "serve", "--port", str(port), f"--{'' if access_log else 'no-'}access-log",
         *args],
        cwd=root,
        env=env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            sys.exit(f"the server exited with {server.returncode}:\n{log.read()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    sys.exit(f"the server did not answer /health within {timeout:.0f} s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def get(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status


def warm_up(port: int, paths: list[str]) -> float:
    """Request every path once (fills the server's per-user caches); return the seconds it took."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for path in paths:
        get(conn, path)
    return time.perf_counter() - start


# ------------------------------------------------------------------ wrk
LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i * 7919) %% #paths + 1])
end
"""


def run_wrk(port: int, paths: list[str], connections: int, duration: int, threads: int, workdir: Path) -> dict:
    path_file = workdir / "paths.txt"
    path_file.write_text("\n".join(random.Random(0).sample(paths, len(paths))) + "\n")
    script = workdir / "paths.lua"
    script.write_text(LUA % path_file)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "--latency"]
    result = subprocess.run(
        [*command, "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    out = result.stdout
    if result.returncode:
        sys.exit(f"wrk failed: {result.stderr}")

    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "client": "wrk",
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
        "raw": out,
    }


# ------------------------------------------------------------------ Python client (no wrk)
def _client(port: int, paths: list[str], connections: int, deadline: float, seed: int, queue) -> None:
    import threading

    latencies, errors, lock = [], [0], threading.Lock()

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        i, local = offset, []
        while time.monotonic() < deadline:
            path = paths[(i * 7919) % len(paths)]
            i += 1
            start = time.perf_counter()
            try:
                ok = get(conn, path) == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            local.append(time.perf_counter() - start)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(seed * 1000 + k,)) for k in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((latencies, errors[0]))


def run_python_client(port: int, paths: list[str], connections: int, duration: int, processes: int) -> dict:
    queue = multiprocessing.Queue()
    deadline = time.monotonic() + duration
    per = [connections // processes + (k < connections % processes) for k in range(processes)]
    workers = [
        multiprocessing.Process(target=_client, args=(port, paths, c, deadline, k, queue))
        for k, c in enumerate(per)
        if c
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=duration + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    elapsed = time.perf_counter() - start
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3  # noqa: E731
    return {
        "client": f"python ({len(workers)} processes)",
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "errors": errors,
    }


# ------------------------------------------------------------------ /health during a fold-in burst
def _fold_in_client(port: int, movie_ids: list[int], clients: int, deadline: float, queue) -> None:
    import threading

    counts, lock = {}, threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline:
            body = json.dumps([{"movieId": m, "rating": rng.randint(1, 5)} for m in rng.sample(movie_ids, 20)])
            try:
                conn.request("POST", "/recommendations?n=10", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = "error"
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(counts)


def fold_in_burst(port: int, movie_ids: list[int], clients: int, duration: int) -> dict:
    """`clients` connections POST fold-ins back to back (another process) while this one times GET /health."""
    queue = multiprocessing.Queue()
    deadline = time.monotonic() + duration
    burst = multiprocessing.Process(target=_fold_in_client, args=(port, movie_ids, clients, deadline, queue))
    burst.start()
    time.sleep(0.5)  # the burst is under way
    conn, latencies = http.client.HTTPConnection("127.0.0.1", port, timeout=10), []
    while time.monotonic() < deadline - 0.2:
        start = time.perf_counter()
        assert get(conn, "/health") == 200
        latencies.append(time.perf_counter() - start)
        time.sleep(0.01)
    counts = queue.get(timeout=60)
    burst.join(timeout=10)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3  # noqa: E731
    return {"health": len(latencies), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": latencies[-1] * 1e3,
            "fold_ins": counts}


def main_fold_in_burst(args) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        workdir = Path(tmp)
        root, source = project_with_artifacts(workdir, args.fresh)
        with (root / MODEL).open("rb") as stream:
            movie_ids = [int(m) for m in pickle.load(stream).item_ids_]  # noqa: S301 - our own artifact
        port = free_port()
        with (workdir / "server.log").open("w+") as log:
            server = start_server(root, port, log, access_log=not args.no_access_log)
            try:
                ready = time.perf_counter()
                timed_fold_ins(port, movie_ids, 2, 0.001)  # the model workers have loaded the model
                ready = time.perf_counter() - ready
                result = fold_in_burst(port, movie_ids, args.fold_in_burst, args.duration)
            finally:
                stop(server)
    print(f"model:       {source}; `kedro serve` (1 uvicorn process), {os.cpu_count()} CPUs here; model workers "
          f"ready {ready:.1f} s after /health")
    print(f"burst:       {args.fold_in_burst} connections posting fold-ins (20 ratings each) for {args.duration} s")
    print(f"fold-ins:    {dict(sorted(result['fold_ins'].items(), key=str))} (status: count)")
    print(f"GET /health: {result['health']} requests, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
          f"max {result['max_ms']:.2f} ms")


# ------------------------------------------------------------------ serving at scale (issue 11)
def scale_artifacts(root: Path, release: str, shape: tuple[int, int, int], cache: Path, top_n: int = 10) -> dict:
    """What `kedro run --params dataset=<release>` leaves for `kedro serve`, on synthetic ratings of ``shape``.

    The model is the default one (``model`` and its settings in conf/base/parameters_modeling.yml), fitted
    with the library directly (cached in ``cache``). The published lists (all_recommendations.csv, every
    user's top ``top_n``) are the most rated movies each user has not rated, scored by rating count: GET
    serves them as they are, so how they were computed does not change its latency, and computing the
    default model's lists for every user takes far longer than this benchmark should. The run manifest
    lists all of it, as a finished run would. Returns a summary.
    """
    import hashlib

    import numpy as np
    import pandas as pd
    import yaml

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_scale import _data
    from synthetic import synthetic_movies

    from movie_recommender.datasets.manifest import Manifest, file_fingerprint
    from movie_recommender.recsys.models import make_model

    params = yaml.safe_load((ROOT / "conf/base/parameters_modeling.yml").read_text())
    name = params["model"]
    settings = dict(params["models"][name])
    kind = settings.pop("model", name)
    explain = params.get("explain_neighbours")
    data = _data(shape, cache)
    key = hashlib.sha256(json.dumps([shape, kind, settings], sort_keys=True).encode()).hexdigest()[:12]
    fitted = cache / f"model_{kind}_{shape[0]}_{shape[1]}_{shape[2]}_{key}.pkl"  # the fit alone
    cached = fitted.with_name(f"{fitted.stem}_explain_{explain}.pkl")  # with its explanations, as `train` stores it
    files = {
        "recommender": f"data/06_models/{release}/recommender.pkl",
        "movies": f"data/02_intermediate/{release}/movies.csv",
        "movie_rating_counts": f"data/03_primary/{release}/movie_rating_counts.csv",
        "all_recommendations": f"data/07_model_output/{release}/all_recommendations.csv",
    }
    for path in files.values():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
    fit_s = explain_s = None

    def store(model, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)

    if not cached.exists():
        if fitted.exists():
            model = pickle.loads(fitted.read_bytes())  # noqa: S301 - our own cache
        else:
            started = time.perf_counter()
            model = make_model(kind, settings).fit(data)
            fit_s = time.perf_counter() - started
            store(model, fitted)
        started = time.perf_counter()
        model.fit_explanations(explain)
        explain_s = time.perf_counter() - started
        store(model, cached)
        del model
    shutil.copyfile(cached, root / files["recommender"])

    items, matrix = data.item_ids, data.matrix.tocsr()
    movies = synthetic_movies(items, seed=0)
    found = movies["title"].str.extract(r"^(?P<title>.*) \((?P<year>\d{4})\)$")
    movies["year"] = pd.to_numeric(found["year"]).astype("Int64")
    movies["title"] = found["title"].fillna(movies["title"])
    movies[["movieId", "title", "year", "genres"]].to_csv(root / files["movies"], index=False)
    counts = np.asarray(matrix.getnnz(axis=0))
    pd.DataFrame({"movieId": items, "ratings": counts}).to_csv(root / files["movie_rating_counts"], index=False)

    order = np.lexsort((items, -counts))[: top_n + 1000]  # most rated first, then the smaller id
    users, ranked, scores = [], [], []
    for row in range(matrix.shape[0]):
        rated = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
        best = order[~np.isin(order, rated, assume_unique=True)][:top_n]
        users.append(np.full(len(best), data.user_ids[row]))
        ranked.append(best)
        scores.append(counts[best].astype(float))
    ranked = np.concatenate(ranked)
    lists = pd.DataFrame({"userId": np.concatenate(users), "movieId": items[ranked], "score": np.concatenate(scores)})
    lists.insert(1, "rank", lists.groupby("userId").cumcount() + 1)
    lists.to_csv(root / files["all_recommendations"], index=False, float_format="%.4f")

    rows = {"movies": len(movies), "movie_rating_counts": len(items), "all_recommendations": len(lists)}
    outputs = {n: {"kind": "file", "path": p, **file_fingerprint(root / p), "rows": rows.get(n)} for n, p in files.items()}
    run = {"started_at": None, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
           "pipeline": "bench_api --release", "dataset": release, "parameters": {"model": name, "top_n": top_n},
           "inputs": {}}  # fmt: skip
    manifest = Manifest(None).record_run("bench-api-scale", run, outputs)
    (root / f"data/06_models/{release}/run_manifest.json").write_text(json.dumps(manifest.content))
    return {"model": kind, "fit_s": fit_s, "explain_s": explain_s, "cached_model": str(cached), "users": data.n_users, "movies": data.n_items,
            "ratings": data.n_ratings, "model_bytes": outputs["recommender"]["bytes"], "lists": len(lists),
            "popular": [int(m) for m in items[order[:2000]]]}  # fmt: skip


def copy_project(workdir: Path) -> Path:
    """conf, src and pyproject.toml of this project in ``workdir/project`` (no data, no conf/local); src with
    its caches and times (numba's compiled kernels are reused, as by `kedro serve` in the project itself)."""
    root = workdir / "project"
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copytree(ROOT / "src", root / "src")
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


def memory(pid: int) -> dict[int, tuple[float, float]]:
    """pid -> (RSS, peak RSS) in GB of a process and its children (the model workers)."""
    found = {}
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    for each in [pid, *map(int, children.stdout.split())]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
            if b"resource_tracker" in Path(f"/proc/{each}/cmdline").read_bytes():
                continue  # multiprocessing's helper, not a model worker
        except OSError:
            continue
        kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.*)$", status, re.M)}
        found[each] = (kb.get("VmRSS", 0) / 1024**2, kb.get("VmHWM", 0) / 1024**2)
    return found


def timed_fold_ins(port: int, movie_ids: list[int], clients: int, duration: float) -> dict:
    """``clients`` connections POST fold-ins (20 ratings of popular movies each) back to back, each at
    least one (a warm-up with a tiny ``duration`` still waits for a fold-in per connection)."""
    import threading

    latencies, statuses, lock = [], {}, threading.Lock()
    deadline = time.monotonic() + duration

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        first = True
        while first or time.monotonic() < deadline:
            first = False
            body = json.dumps([{"movieId": m, "rating": rng.randint(1, 5)} for m in rng.sample(movie_ids, 20)])
            start = time.perf_counter()
            conn.request("POST", "/recommendations?n=10", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - start)
                statuses[response.status] = statuses.get(response.status, 0) + 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3  # noqa: E731
    return {"requests": len(latencies), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "statuses": statuses}


def main_scale(args) -> None:
    """`kedro serve --dataset <release>` on synthetic data of that release's shape: start-up time, memory of
    the server and of each model worker, GET p99 at --connections (cold caches: one request per user at
    most, no warm-up) and POST /recommendations p99 at --fold-in-clients connections."""
    from movie_recommender.recsys.synthetic import RELEASE_SHAPES

    shape = tuple(int(x) for x in args.shape.split(",")) if args.shape else RELEASE_SHAPES[args.release]
    cache = Path(args.cache)
    with tempfile.TemporaryDirectory(prefix="bench_api_scale_") as tmp:
        workdir = Path(tmp)
        root = copy_project(workdir)
        started = time.perf_counter()
        build = subprocess.run(  # in a child: its memory (the fit) is gone before the server starts
            [sys.executable, __file__, "--build-child", json.dumps([str(root), args.release, shape, str(cache)])],
            capture_output=True, text=True, check=False, env=env(),
        )  # fmt: skip
        if build.returncode:
            sys.exit(f"building the artifacts failed:\n{build.stderr[-3000:]}")
        summary = json.loads(build.stdout.strip().splitlines()[-1])
        built = time.perf_counter() - started
        port = free_port()
        with (workdir / "server.log").open("w+") as log:
            started = time.perf_counter()
            server = start_server(root, port, log, access_log=False, args=("--dataset", args.release), timeout=600)
            startup = time.perf_counter() - started
            try:
                first = time.perf_counter()
                timed_fold_ins(port, summary["popular"], args.fold_in_clients, 0.001)  # waits for every worker
                workers_ready = startup + time.perf_counter() - first
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/health")
                health = json.loads(conn.getresponse().read())
                users = list(range(1, shape[0] + 1))
                paths = [f"/users/{u}/recommendations?n={args.n}" for u in users]
                use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
                if use_wrk:
                    get = run_wrk(port, paths, args.connections, args.duration, args.threads, workdir)
                else:
                    get = run_python_client(port, paths, args.connections, args.duration, args.threads)
                fold = timed_fold_ins(port, summary["popular"], args.fold_in_clients, args.duration)
                mem = memory(server.pid)
            finally:
                stop(server)
    model = health["model"]
    gb = 1024**3
    print(f"data:        synthetic {args.shape or args.release}: {summary['users']:,} users, {summary['movies']:,} "
          f"movies, {summary['ratings']:,} ratings; artifacts built in {built:.0f} s"
          + (f" (fit {summary['fit_s']:.0f} s)" if summary["fit_s"] else "")
          + (f" (explanations {summary['explain_s']:.0f} s)" if summary["explain_s"] else "")
          + ("" if summary["fit_s"] or summary["explain_s"] else f" (model from {summary['cached_model']})"))
    print(f"model:       {model['class']} ({summary['model_bytes'] / gb:.2f} GB pickle); published lists: "
          f"{summary['lists']:,} rows, top {model.get('published_top_n')} (most rated unrated movies)")
    print(f"start-up:    /health answered {startup:.1f} s after `kedro serve --dataset {args.release}` started; "
          f"the first fold-ins at {workers_ready:.1f} s (model workers loaded)")
    server_mem = mem.pop(server.pid, (0, 0))
    print(f"memory:      server RSS {server_mem[0]:.2f} GB (peak {server_mem[1]:.2f} GB); "
          + "; ".join(f"worker {pid}: {r:.2f} GB (peak {p:.2f} GB)" for pid, (r, p) in sorted(mem.items())))
    print(f"GET:         /users/{{id}}/recommendations?n={args.n}, {get['client']}, {args.connections} connections, "
          f"{args.duration} s, cold: {get['requests']} requests, {get['rps']:.0f}/s, p50 {get['p50_ms']:.1f} ms, "
          f"p99 {get['p99_ms']:.1f} ms, errors {get['errors']}")
    print(f"POST:        /recommendations (fold-in, 20 ratings), {args.fold_in_clients} connections, {args.duration} s: "
          f"{fold['requests']} requests {fold['statuses']}, p50 {fold['p50_ms']:.1f} ms, p99 {fold['p99_ms']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load (after the warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads / Python client processes")
    parser.add_argument("--n", type=int, default=10, help="recommendations per request")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--fresh", action="store_true", help="fit a model in a temporary copy of the project")
    parser.add_argument("--no-warm-up", action="store_true", help="measure with cold per-user caches")
    parser.add_argument("--no-access-log", action="store_true", help="serve without the line per request")
    parser.add_argument(
        "--fold-in-burst",
        type=int,
        default=0,
        metavar="CLIENTS",
        help="instead: time GET /health while CLIENTS connections POST fold-ins back to back (--duration s)",
    )
    parser.add_argument("--release", help="instead: serve a synthetic model of this release's shape (ml-25m...)")
    parser.add_argument("--shape", help="with --release: users,movies,ratings instead of the release's")
    parser.add_argument("--fold-in-clients", type=int, default=2, help="with --release: POST connections")
    parser.add_argument("--cache", default=str(ROOT / "data" / "bench"), help="synthetic ratings and fitted models")
    parser.add_argument("--build-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_child:
        root, release, shape, cache = json.loads(args.build_child)
        print(json.dumps(scale_artifacts(Path(root), release, tuple(shape), Path(cache))))
        return None
    if args.release:
        return main_scale(args)
    if args.fold_in_burst:
        return main_fold_in_burst(args)

    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        workdir = Path(tmp)
        root, source = project_with_artifacts(workdir, args.fresh)
        with (root / MODEL).open("rb") as stream:
            users = [int(u) for u in pickle.load(stream).user_ids_]  # noqa: S301 - our own artifact
        paths = [f"/users/{u}/recommendations?n={args.n}" for u in users]
        port = free_port()
        with (workdir / "server.log").open("w+") as log:
            started = time.perf_counter()
            server = start_server(root, port, log, access_log=not args.no_access_log)
            startup = time.perf_counter() - started
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                health = json.loads(conn.getresponse().read())
                warm = None if args.no_warm_up else warm_up(port, paths)
                use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
                if use_wrk:
                    result = run_wrk(port, paths, args.connections, args.duration, args.threads, workdir)
                else:
                    result = run_python_client(port, paths, args.connections, args.duration, args.threads)
            finally:
                stop(server)

    model = health["model"]
    print(f"model:       {model['class']} ({model['users']} users, {model['movies']} movies), {source}")
    print(f"server:      `kedro serve` (1 uvicorn process), ready in {startup:.1f} s; {os.cpu_count()} CPUs here")
    if warm is not None:
        print(f"warm-up:     {len(paths)} users requested once in {warm:.1f} s")
    print(f"load:        {result['client']}, {args.connections} connections, {args.duration} s, n={args.n}")
    print(f"requests:    {result['requests']}")
    print(f"throughput:  {result['rps']:.0f} requests/s")
    print(f"latency:     p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    print(f"errors:      {result['errors']}")


if __name__ == "__main__":
    main()
