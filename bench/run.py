"""Benchmark of the pg_mtls playbook against the community.crypto way and the Ansible floor.

    bench/run.sh [--sizes 1,10,50,200] [--runs 3] [--reference-max 50] [--quick]

For each N (1 server + N clients, all ansible_connection=local, one directory per host, PostgreSQL
configuration files in a temp dir, a no-op reload command): certkeeper.pki.pg_mtls first run and
idempotent rerun, the community.crypto reference (bench/reference/pg_mtls.yml, its own venv) first run
and rerun, the fleet report over the same hosts (certkeeper.pki.cert_report: one read-only call per host, then the
JSON and HTML on the controller), and the floor (bench/floor.yml, one ping per host). Several runs give medians and
min-max;
ratios are taken pair by pair within the same run. Also: module invocations per host, the controller's
peak RSS, the share of time spent in the core (cryptography + files) and `certkeeper renew --all` over
10,000 tracked certificates. Writes bench/results/<time>.json and .md and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
COLLECTIONS = os.path.join(ROOT, ".work", "collections")
OUR_BIN = os.path.join(ROOT, ".venv", "bin")
REF_BIN = os.path.join(BENCH, ".venv-ref", "bin")
CALLBACKS = os.path.join(ROOT, "tests", "integration", "callback_plugins")
sys.path.insert(0, COLLECTIONS)

from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.arguments import ARGUMENT_SPEC  # noqa: E402
from ansible_collections.certkeeper.pki.plugins.module_utils._pg_mtls.run import run_pg_mtls_certs  # noqa: E402


def inventory(base: str, clients: int, python: str) -> str:
    conf = os.path.join(base, "pgconf")
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "postgresql.conf"), "w") as handle:
        handle.write("port = 5432\n")
    with open(os.path.join(conf, "pg_hba.conf"), "w") as handle:
        handle.write("local all all peer\n")
    hosts = {"c%03d" % i: {"pg_mtls_db_user": "app%03d" % i, "pg_mtls_client_dir": os.path.join(base, "c%03d" % i),
                           "pg_mtls_track_store": os.path.join(base, "store-c%03d" % i)}
             for i in range(1, clients + 1)}
    data = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": python,
                 "pg_mtls_ca_dir": os.path.join(base, "ca"), "pg_mtls_conf_dir": conf,
                 "pg_mtls_reload_command": "true", "pg_mtls_server_key_owner": "root",
                 "pg_mtls_server_key_group": "root"},
        "children": {
            "pg_servers": {"hosts": {"db1": {"pg_mtls_ssl_dir": os.path.join(base, "db1"),
                                             "pg_mtls_server_cn": "db1.example.com",
                                             "pg_mtls_track_store": os.path.join(base, "store-db1")}}},
            "pg_clients": {"hosts": hosts}}}}
    path = os.path.join(base, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    return path


def playbook(bin_dir: str, target: str, inventory_path: str, work: str, *args: str) -> dict:
    """Wall time, module invocations per host and peak RSS of one ansible-playbook run."""
    counts = os.path.join(work, "counts.json")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS if bin_dir == OUR_BIN else "",
               ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="module_counts",
               CERTKEEPER_COUNTS_FILE=counts, ANSIBLE_PIPELINING="true", ANSIBLE_FORKS="5",
               ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_DEPRECATION_WARNINGS="false",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_LOCAL_TEMP=os.path.join(work, "tmp"))
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", os.path.join(bin_dir, "ansible-playbook"), "-i",
                           inventory_path, target, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (target, proc.stdout[-3000:], proc.stderr[-2000:]))
    data = json.load(open(counts))
    hosts = max(len(data["invocations"]), 1)
    return {"seconds": seconds, "invocations_per_host": sum(data["invocations"].values()) / hosts,
            "max_invocations_host": max(data["invocations"].values() or [0]),
            "changed_hosts": len(data["changed"]), "peak_rss_mb": int(proc.stderr.strip().splitlines()[-1]) / 1024}


def core_seconds(clients: int) -> float:
    """The same cryptography and file work as a first run, without Ansible: one call per host and phase."""
    base = tempfile.mkdtemp(prefix="certkeeper-core-")
    try:
        # every option with the default the module gives it, as a module run sees them
        common = {name: option.get("default") for name, option in ARGUMENT_SPEC.items()}
        start = time.monotonic()
        server = run_pg_mtls_certs(dict(common, role="server", path=os.path.join(base, "db1"),
                                        ca_path=os.path.join(base, "ca"), common_name="db1.example.com"), False)
        requests = []
        for i in range(clients):
            options = dict(common, role="client", path=os.path.join(base, "c%d" % i), common_name="app%d" % i,
                           ca_certificate=server["ca_certificate"])
            requests.append((options, run_pg_mtls_certs(options, False)["csr"]))
        signed = run_pg_mtls_certs(dict(common, role="ca", path=os.path.join(base, "ca"), sign=[
            dict(name=str(i), csr=csr, profile="client", common_name="app%d" % i, subject_alt_names=[])
            for i, (_, csr) in enumerate(requests)]), False)
        for i, (options, _) in enumerate(requests):
            run_pg_mtls_certs(dict(options, certificate=signed["certificates"][str(i)]), False)
        return time.monotonic() - start
    finally:
        shutil.rmtree(base, ignore_errors=True)


def renew_bench(records: int, due: int) -> dict:
    """`certkeeper renew --all` over ``records`` tracked certificates of which ``due`` are due."""
    from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.verbs import renew, track, untrack
    from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.request import TrackedRequest
    from ansible_collections.certkeeper.pki.plugins.module_utils._tracking.store import Store
    base = tempfile.mkdtemp(prefix="certkeeper-renew-")
    try:
        store = Store(os.path.join(base, "store"))
        shared = TrackedRequest(id="shared", cert_path=os.path.join(base, "shared.crt"),
                                key_path=os.path.join(base, "shared.key"), subject="CN=shared.example")
        track(store, shared, check_mode=False)
        template = store.load("shared")
        for i in range(records):
            request_id = "r%05d" % i
            if i < due:  # own files, due at once (400 days ahead with 365-day certificates)
                own = TrackedRequest(id=request_id, cert_path=os.path.join(base, "%s.crt" % request_id),
                                     key_path=os.path.join(base, "%s.key" % request_id), subject="CN=%s" % request_id)
                track(store, own, check_mode=False)
                request = store.load(request_id)
                request.renew_before, request.valid_days = 400, 500
            else:
                request = TrackedRequest(**dict(template.__dict__, id=request_id))
            store.save(request)
        untrack(store, "shared", check_mode=False)  # its files stay, shared by the records not due
        start = time.monotonic()
        outcomes = renew(store)
        seconds = time.monotonic() - start
        return {"records": records, "due": due, "seconds": seconds,
                "renewed": sum(o.action == "renewed" for o in outcomes),
                "not_due": sum(o.action == "not due" for o in outcomes)}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def median_range(values: list) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def slope(points: list) -> float:
    """Least-squares seconds per host."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,50,200")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference-max", type=int, default=50, help="largest N for the slow reference")
    parser.add_argument("--renew-records", type=int, default=10000)
    parser.add_argument("--quick", action="store_true", help="N = 1 and 10, one run, 1,000 records")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.runs, args.reference_max, args.renew_records = "1,10", 1, 10, 1000
    sizes = [int(n) for n in args.sizes.split(",")]
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "runs": args.runs,
               "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()}, "sizes": {}}
    for n in sizes:
        samples = {k: [] for k in ("ours_first", "ours_rerun", "ref_first", "ref_rerun", "floor", "report")}
        ratios = {k: [] for k in ("first_vs_ref", "rerun_vs_ref", "rerun_vs_floor", "report_vs_floor")}
        details = {}
        for run in range(args.runs):
            work = tempfile.mkdtemp(prefix="certkeeper-bench-%d-" % n)
            try:
                ours = inventory(os.path.join(work, "ours"), n, os.path.join(OUR_BIN, "python"))
                target = "certkeeper.pki.pg_mtls"
                first = playbook(OUR_BIN, target, ours, work)
                rerun = playbook(OUR_BIN, target, ours, work)
                floor = playbook(OUR_BIN, os.path.join(BENCH, "floor.yml"), ours, work)
                report = playbook(OUR_BIN, "certkeeper.pki.cert_report", ours, work,
                                  "-e", "cert_report_dir=" + os.path.join(work, "report"))
                measured = {"ours_first": first, "ours_rerun": rerun, "floor": floor, "report": report}
                ratios["report_vs_floor"].append(report["seconds"] / floor["seconds"])
                if n <= args.reference_max:
                    ref = inventory(os.path.join(work, "ref"), n, os.path.join(REF_BIN, "python"))
                    measured["ref_first"] = playbook(REF_BIN, os.path.join(BENCH, "reference", "pg_mtls.yml"), ref, work)
                    measured["ref_rerun"] = playbook(REF_BIN, os.path.join(BENCH, "reference", "pg_mtls.yml"), ref, work)
                    ratios["first_vs_ref"].append(measured["ref_first"]["seconds"] / first["seconds"])
                    ratios["rerun_vs_ref"].append(measured["ref_rerun"]["seconds"] / rerun["seconds"])
                ratios["rerun_vs_floor"].append(rerun["seconds"] / floor["seconds"])
                for key, value in measured.items():
                    samples[key].append(value["seconds"])
                    details[key] = value
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print("N=%d run %d: %s" % (n, run + 1, {k: round(v["seconds"], 2) for k, v in measured.items()}),
                  flush=True)
        core = core_seconds(n)
        results["sizes"][str(n)] = {
            "seconds": {k: median_range(v) for k, v in samples.items() if v},
            "ratios": {k: median_range(v) for k, v in ratios.items() if v},
            "invocations_per_host": {k: v["invocations_per_host"] for k, v in details.items()},
            "max_invocations_on_a_host": {k: v["max_invocations_host"] for k, v in details.items()},
            "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in details.items()},
            "core_seconds": core,
            "core_share_of_first_run": core / statistics.median(samples["ours_first"]),
        }
    firsts = [(n, results["sizes"][str(n)]["seconds"]["ours_first"]["median"]) for n in sizes]
    reruns = [(n, results["sizes"][str(n)]["seconds"]["ours_rerun"]["median"]) for n in sizes]
    if len(sizes) > 1:
        results["slope_seconds_per_host"] = {"first": slope(firsts), "rerun": slope(reruns)}
    results["renew"] = [renew_bench(args.renew_records, 0), renew_bench(args.renew_records, args.renew_records // 100)]
    results["machine"]["load_after"] = os.getloadavg()
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(BENCH, "results", stamp + ".json"), "w") as handle:
        json.dump(results, handle, indent=2)
    table = markdown(results)
    with open(os.path.join(BENCH, "results", stamp + ".md"), "w") as handle:
        handle.write(table)
    print(table)
    return 0


def markdown(results: dict) -> str:
    def cell(sec):
        return "%.1f s (%.1f–%.1f)" % (sec["median"], sec["min"], sec["max"]) if sec else "—"

    def ratio(r):
        return "%.1f× (%.1f–%.1f)" % (r["median"], r["min"], r["max"]) if r else "—"

    lines = ["| N clients | pg_mtls first | pg_mtls rerun | community.crypto first | community.crypto rerun | "
             "ping floor | first vs ref | rerun vs ref | rerun / floor | module tasks per host (first, rerun, ref first) "
             "| peak RSS MB | core share | cert_report | report / floor |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, row in results["sizes"].items():
        s, r, inv = row["seconds"], row["ratios"], row["invocations_per_host"]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f, %.2f, %s | %.0f | %.0f%% | %s | %s |" % (
            n, cell(s.get("ours_first")), cell(s.get("ours_rerun")), cell(s.get("ref_first")), cell(s.get("ref_rerun")),
            cell(s.get("floor")), ratio(r.get("first_vs_ref")), ratio(r.get("rerun_vs_ref")),
            ratio(r.get("rerun_vs_floor")), inv["ours_first"], inv["ours_rerun"],
            "%.2f" % inv["ref_first"] if "ref_first" in inv else "—", row["peak_rss_mb"]["ours_first"],
            100 * row["core_share_of_first_run"], cell(s.get("report")), ratio(r.get("report_vs_floor"))))
    lines.append("")
    if "slope_seconds_per_host" in results:
        lines.append("Slope: %.3f s per client host on a first run, %.3f s on a rerun." % (
            results["slope_seconds_per_host"]["first"], results["slope_seconds_per_host"]["rerun"]))
    for item in results["renew"]:
        lines.append("`certkeeper renew --all`: %d tracked, %d due: %.2f s (%d renewed, %d not due)." % (
            item["records"], item["due"], item["seconds"], item["renewed"], item["not_due"]))
    lines.append("Machine: %d CPUs, load %s before, %s after; %d runs per size, medians (min–max)." % (
        results["machine"]["cpus"], tuple(round(x, 2) for x in results["machine"]["load_before"]),
        tuple(round(x, 2) for x in results["machine"]["load_after"]), results["runs"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
