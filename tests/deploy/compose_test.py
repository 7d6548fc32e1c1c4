#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""docker/docker-compose.yml run for real, as a user runs it, and broken on purpose.

Started by scripts/compose-test.sh, which provides the Docker engine (DOCKER_HOST), the base
image and the Kafka jars, and cleans up whatever happens here. Steps, each timed:

  build (cold)   the three images (suite, Kafka, Prometheus) in parallel
  up             every service healthy; the time from `up` to all healthy
  idle           Prometheus evaluated every alert rule on the idle suite: none pending or
                 firing; `vexfsctl health` and `vexfsctl status` green
  end to end     files written on the watcher's volume and `vexfsctl emit` from the console
                 container reach every boundary (coordinator, automation, analytics, console),
                 the three coordinators' state, automation's alert and workflow, analytics'
                 windows, and propagation's Kafka journal
  throughput     bench_suite --external against the containers (highest rate with no drops)
  partition      the coordinator leader cut off with `docker network disconnect`: the
                 majority elects a leader and commits, the cut-off node refuses writes
                 (503 partitioned), and after `docker network connect` it catches up
  crashes        under steady acknowledged load (durable REST ingest), every service in turn
                 is killed with SIGKILL: its restart policy restarts it, `vexfsctl status` is
                 green again, and afterwards every acknowledged event is in the journal
  scale          the same events give the same closed windows with one analytics instance
                 and with `--scale analytics=3`, answered alike by every instance
  down -v        leaves no container, volume or network of the project
  warm           after a cold first build only: build again (cached) and `up`, the time to
                 all healthy with a warm cache
  processes      bench_suite --only kafka --journal: the same daemons as processes on
                 loopback, beside the containers' figure (their ratio is the containers'
                 overhead)

Environment: DOCKER_HOST; VX_COMPOSE_PROJECT (vexfsci); VX_COMPOSE_WORK (a folder for the
secrets and logs); VX_COMPOSE_CACHE=cold|warm (the build cache as found);
VX_BENCH_BIN (build/bench/bench_suite); VEXFS_KAFKA_BOOTSTRAP (a broker on the host for the
processes' figure); VX_COMPOSE_BENCH_RUNS (3); VX_COMPOSE_BENCH_SECONDS (2);
VX_COMPOSE_ONLY=step,... (development: only these steps, on a project already up).
No timing is asserted: every figure is printed.
"""
import calendar
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compose_lib import (Clock, Failure, Project, check, http,  # noqa: E402
                         log_failure_context, metric_sum, poll, use_ca)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICES = ["kafka", "propagation", "routing", "coordinator-1", "coordinator-2", "coordinator-3",
            "automation", "analytics", "console", "watch", "prometheus"]
SUITE = {"propagation": 8080, "routing": 8081, "automation": 8083, "analytics": 8084,
         "watch": 8087}
COORDS = {"coordinator-1": "172.28.0.11", "coordinator-2": "172.28.0.12",
          "coordinator-3": "172.28.0.13"}
# Images built by the compose file: one service of each, in parallel.
BUILD_SERVICES = ["propagation", "kafka", "prometheus"]
# kcat in the kafka container, over SASL_SSL as the SCRAM user (the entrypoint's kcat.conf).
KCAT = ["kcat", "-F", "/opt/kafka/config/kcat.conf", "-b", "127.0.0.1:9092"]

clock = Clock()
figures = []  # (name, text), printed together at the end


def figure(name, text):
    figures.append((name, text))
    clock.note(f"FIGURE {name}: {text}")


class Suite:
    """The running project and what the test knows about it."""

    def __init__(self, project, token, work):
        self.p = project
        self.token = token
        self.work = work

    def url(self, service):
        if service in COORDS:
            return f"https://{COORDS[service]}:8082"
        if service == "prometheus":
            return self.p.url("prometheus", 9090, scheme="http")
        return self.p.url(service, SUITE[service])

    def get(self, service, path, timeout=10):
        return http("GET", self.url(service) + path, timeout=timeout)

    def call(self, service, method, path, body=None, timeout=10):
        return http(method, self.url(service) + path, body, token=self.token, timeout=timeout)

    def metrics(self, service):
        st, text = self.get(service, "/metrics")
        check(st == 200, f"GET {service}/metrics", 200, st)
        return text

    def emit(self, lines):
        """JSON events, one per line, into propagation's ZeroMQ ingest with vexfsctl emit, run
        in the console container (the only one holding the identity ctl)."""
        text = "".join(json.dumps(e) + "\n" for e in lines)
        r = self.p.exec("console", "vexfsctl", "emit", "--endpoint", "tcp://propagation:5550",
                        input_text=text)
        check(f"sent {len(lines)} events" in r.stderr, "vexfsctl emit", f"sent {len(lines)} events",
              r.stderr.strip())

    def status_green(self):
        """vexfsctl status from the console container: every service up and ready."""
        r = self.p.exec("console", "vexfsctl", "status", "--json", "--interval", "0",
                        "--propagation", "https://propagation:8080",
                        "--routing", "https://routing:8081",
                        "--coordinator", "https://coordinator-1:8082",
                        "--automation", "https://automation:8083",
                        "--analytics", "https://analytics:8084", check_rc=False)
        doc = json.loads(r.stdout)
        bad = [f"{s['service']} health {s['health']} ready {s['ready']}" for s in doc["services"]
               if s["health"] != "up" or not s["ready"]]
        return r.returncode == 0 and not bad and len(doc["services"]) == 5 or (False, bad)


# ---- build and up ----------------------------------------------------------------------------

def build(s, label):
    log = os.path.join(s.work, f"build-{label}.log")
    t0 = time.monotonic()
    with open(log, "w", encoding="utf-8") as f:
        r = subprocess.run(s.p.compose_cmd + ["-p", s.p.name, "-f", s.p.file, "build",
                                              "--parallel"] + BUILD_SERVICES,
                           env=s.p.env, stdout=f, stderr=subprocess.STDOUT, timeout=3600)
    if r.returncode != 0:
        text = open(log, encoding="utf-8").read()
        # The first error of a parallel build is not at the end of the log.
        first = max(0, text.find("ERROR") - 4000) if "ERROR" in text else len(text) - 6000
        print(text[max(0, first):][:8000], file=sys.stderr)
        raise Failure(f"docker-compose build exited {r.returncode} (log {log})")
    # The suite's build stage under a name (from the layers just built), so pruning the
    # persistent cache's untagged images keeps it and its dependency layer for the next run.
    s.p.docker("build", "-q", "--network", "host", "--target", "build", "-t", "vexfs-build:latest",
               "-f", os.path.join(ROOT, "docker", "Dockerfile"), ROOT, timeout=1800)
    dt = time.monotonic() - t0
    clock.note(f"built {', '.join(BUILD_SERVICES)} images in {dt:.1f} s ({label} cache; log {log})")
    return dt


def all_healthy(s, services=SERVICES):
    states = {}
    for svc in services:
        cids = s.p.containers(svc)
        states[svc] = [s.p.health(c) for c in cids] or ["absent"]
    bad = {k: v for k, v in states.items()
           if any(x not in ("healthy", "running") for x in v)
           or (k != "console" and any(x == "running" for x in v))}
    return True if not bad else (False, bad)


def up(s, label):
    t0 = time.monotonic()
    s.p.compose("up", "-d", "--no-build", timeout=600)
    poll(lambda: all_healthy(s), 300, "every service healthy")
    dt = time.monotonic() - t0
    clock.note(f"up -> all {len(SERVICES)} services healthy in {dt:.1f} s ({label} cache)")
    return dt


# ---- idle --------------------------------------------------------------------------------------

def idle(s):
    prom = s.url("prometheus")

    def targets_up():
        st, doc = http("GET", prom + "/api/v1/targets")
        t = doc["data"]["activeTargets"]
        down = [x["labels"]["instance"] for x in t if x["health"] != "up"]
        return len(t) >= 7 and not down or (False, down)
    poll(targets_up, 90, "every Prometheus target up")
    st, doc = http("GET", prom + "/api/v1/query?query=time()")
    t_up = float(doc["data"]["result"][0])

    # rate() needs two samples of every target: wait for an evaluation 11 s (two scrapes)
    # after every target was up.
    def evaluated():
        st, doc = http("GET", prom + "/api/v1/rules")
        groups = doc["data"]["groups"]
        last = [calendar.timegm(time.strptime(g["lastEvaluation"][:19], "%Y-%m-%dT%H:%M:%S"))
                for g in groups]
        return groups and min(last) >= t_up + 11
    poll(evaluated, 90, "two scrapes of every target, then a rule evaluation")
    st, doc = http("GET", prom + "/api/v1/rules")
    n_rules = sum(len(g["rules"]) for g in doc["data"]["groups"])
    st, doc = http("GET", prom + "/api/v1/query?query=" +
                   "sum(rate(vexfs_events_received_total%7Bjob%3D%22propagation%22%7D%5B1m%5D))")
    check(doc["data"]["result"], "the traffic gate's input (propagation's received rate)",
          "a sample", doc["data"])
    st, doc = http("GET", prom + "/api/v1/alerts")
    active = [f"{a['labels']['alertname']} ({a['state']})" for a in doc["data"]["alerts"]]
    check(not active, "alerts on the idle, healthy suite", "none pending or firing", active)
    clock.note(f"idle: Prometheus evaluated {n_rules} rules; none pending or firing")

    r = s.p.exec("console", "vexfsctl", "health", "--url", "https://analytics:8084",
                 check_rc=False)
    n = len(SUITE) + len(COORDS)  # monitoring.services of config/docker.yaml
    check(r.returncode == 0 and f"healthy ({n} of {n} services up)" in r.stdout,
          "vexfsctl health", f"exit 0, 'healthy ({n} of {n} services up)'",
          f"exit {r.returncode}: {r.stdout.strip()} {r.stderr.strip()}")
    clock.note(f"vexfsctl health: {r.stdout.splitlines()[0]}")
    poll(s.status_green, 30, "vexfsctl status green")
    clock.note("vexfsctl status: every service up and ready")


# ---- end to end --------------------------------------------------------------------------------

def routed(s):
    text = s.metrics("routing")
    return {b: metric_sum(text, "vexfs_events_routed_total", {"boundary": b})
            for b in ("coordinator", "automation", "analytics", "console")}


def end_to_end(s):
    before = routed(s)
    # The folders first, and only once the watcher watches them: inotify sees what happens
    # in a new folder from the moment its watch is added, and this is not a test of that race.
    s.p.exec("watch", "mkdir", "-p", "/srv/vexfs/demo/logs")
    poll(lambda: '"path":"/srv/vexfs/demo/logs"' in s.p.logs("console", 400), 30,
         "the watcher's event of the new folder /srv/vexfs/demo/logs")
    # The watcher: a report written and renamed, log lines, three files deleted (a burst).
    s.p.exec("watch", "sh", "-c",
             "set -e; d=/srv/vexfs/demo; "
             "printf 'quarterly figures\\n' > $d/report-1.txt; "
             "mv $d/report-1.txt $d/report-1-final.txt; "
             "for i in 1 2 3; do printf 'line %s\\n' $i >> $d/logs/app.log; done; "
             "for i in 1 2 3; do printf 'scratch\\n' > $d/tmp-$i.dat; done; "
             "rm -f $d/tmp-1.dat $d/tmp-2.dat $d/tmp-3.dat")
    # vexfsctl emit from the console container (identity ctl).
    emitted = "/srv/vexfs/demo/emitted.log"
    r = s.p.exec("console", "vexfsctl", "emit", "--endpoint", "tcp://propagation:5550", "--type",
                 "filesystem_write", "--path", emitted, "--content", "size=42", "--count", "5")
    check("sent 5 events" in r.stderr, "vexfsctl emit --count 5", "sent 5 events", r.stderr)

    # The README's example: REST through the port the compose file publishes on the host.
    st, doc = http("POST", "https://127.0.0.1:8080/v1/events",
                   {"type": "filesystem_write", "path": "/srv/vexfs/demo/published.log",
                    "content": {"size": "4096"}}, token=s.token)
    check(st == 202, "POST /v1/events on the published host port 8080", 202, f"{st} {doc}")

    def boundaries():
        now = routed(s)
        missing = [b for b in now if now[b] <= before[b]]
        return not missing or (False, f"no new events on {missing}: {now}")
    poll(boundaries, 30, "events on every boundary of routing")
    clock.note("routing: new events on the coordinator, automation, analytics and console "
               "boundaries")

    poll(lambda: emitted in s.p.logs("console", 200), 30,
         "the console service prints the emitted event")
    clock.note("console: prints the emitted events")

    # Each node's own copy (consistency=any): replication, not a read through the leader.
    def state_everywhere():
        regs = {}
        for c in COORDS:
            st, doc = s.get(c, "/v1/state?consistency=any&key=" + emitted)
            if st != 200:
                return False, f"{c}: {st} {doc}"
            regs[c] = json.dumps(doc.get("register"), sort_keys=True)
        return len(set(regs.values())) == 1 or (False, regs)
    poll(state_everywhere, 30, "the emitted file's replicated state on all three coordinators")
    clock.note("coordinators: the same replicated state of the emitted file on all three")

    def automation_done():
        st, doc = s.get("automation", "/v1/alerts")
        pats = {a.get("pattern") for a in doc.get("alerts", [])}
        if "delete-burst" not in pats:
            return False, f"alerts {sorted(p for p in pats if p)}"
        st, doc = s.get("automation", "/v1/executions")
        done = [e for e in doc.get("executions", []) if e.get("workflow") == "review-deletions"
                and e.get("status") not in ("queued", "running")]
        return done or (False, f"executions {doc.get('executions')}")
    done = poll(automation_done, 30,
                "automation's delete-burst alert and review-deletions workflow")
    clock.note(f"automation: delete-burst alert, workflow review-deletions {done[0]['status']}")

    # Open windows count too: a window closes when event time passes its end, and nothing
    # comes after these events (the scale step checks closed windows).
    def windows():
        st, doc = s.get("analytics", "/v1/queries/events-by-type/results")
        count = {}
        for w in doc.get("closed", []) + doc.get("open", []):
            t = w["group"]["type"]
            count[t] = count.get(t, 0) + w["events"]
        # A custom event is grouped under its custom type: the workflow's deletion_review.
        ok = count.get("filesystem_write", 0) >= 5 and count.get("filesystem_delete", 0) >= 3 \
            and count.get("deletion_review", 0) >= 1
        return ok and count or (False, count)
    count = poll(windows, 60, "analytics windows with the writes, the deletes and the "
                 "workflow's event")
    clock.note(f"analytics: the windows of events-by-type count {count}")


# ---- throughput in containers ------------------------------------------------------------------

BENCH_RULE = {"id": "bench-writes", "priority": 1,
              "conditions": {"event_types": ["filesystem_write"],
                             "patterns": [{"kind": "prefix", "pattern": "/srv/bench/"}]},
              "target_boundaries": ["analytics"], "stop": True}
BENCH_QUERY = {"id": "bytes-per-user", "event_types": ["filesystem_write"],
               "window": {"kind": "tumbling", "size_ms": 1000, "allowed_lateness_ms": 100},
               "group_by": ["metadata.user_id"],
               "aggregations": [{"fn": "count", "as": "writes"},
                                {"fn": "sum", "field": "content.size", "as": "bytes"}]}


def drained(analytics_url):
    """Waits until analytics has consumed what an earlier run left queued (its event counter
    stands still for 2 s), so a run does not count the previous one's backlog."""
    last = [None, time.monotonic()]

    def still():
        st, text = http("GET", analytics_url + "/metrics")
        n = metric_sum(text, "vexfs_analytics_events_total")
        if n != last[0]:
            last[0], last[1] = n, time.monotonic()
        return time.monotonic() - last[1] >= 2
    poll(still, 300, "analytics consumed the backlog of the previous run", interval=0.5)


def bench_runs(argv, env, runs, label, before_run=None):
    """Runs bench_suite `runs` times; returns the highest sustained rates."""
    rates = []
    for i in range(runs):
        if before_run:
            before_run()
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        out = r.stdout
        m = re.search(r"highest sustained rate with no drops (\d+) events/s", out)
        if r.returncode != 0 or not m:
            raise Failure(f"{' '.join(argv)} (run {i + 1}) exited {r.returncode}: "
                          f"{(out + r.stderr)[-3000:]}")
        for line in out.splitlines():
            if "ev/s offered" in line:
                clock.note(f"{label} run {i + 1}: {line.strip()}")
        rates.append(float(m.group(1)))
    return rates


def throughput_containers(s, bench_bin, runs, seconds):
    st, doc = s.call("routing", "POST", "/v1/rules", BENCH_RULE)
    check(st == 201, "POST routing /v1/rules (bench rule)", 201, f"{st} {doc}")
    st, doc = s.call("analytics", "POST", "/v1/queries", BENCH_QUERY)
    check(st in (200, 201), "POST analytics /v1/queries (bench query)", "201", f"{st} {doc}")
    # The deployment's own credentials (the secrets folder scripts/deploy-secrets.sh made):
    # CURVE as "ctl", HTTPS verified against its CA by the service names its certificate
    # holds, resolved to the containers' addresses.
    ips = {svc: s.p.ip(s.p.containers(svc, all_states=False)[0])
           for svc in ("propagation", "routing", "analytics")}
    env = dict(os.environ, VX_SUITE_INGEST=f"tcp://{ips['propagation']}:5550",
               VX_SUITE_PROPAGATION_URL="https://propagation:8080",
               VX_SUITE_ROUTING_URL="https://routing:8081",
               VX_SUITE_ANALYTICS_URL="https://analytics:8084",
               VX_SUITE_SECRETS=os.path.join(s.work, "secrets"),
               VX_SUITE_RESOLVE=",".join(f"{svc}:{SUITE[svc]}:{ip}" for svc, ip in ips.items()))
    rates = bench_runs([bench_bin, "--external", str(seconds)], env, runs, "containers",
                       lambda: drained(s.url("analytics")))
    st, _ = s.call("routing", "DELETE", "/v1/rules/bench-writes")
    check(st == 200, "DELETE the bench rule", 200, st)
    st, _ = s.call("analytics", "DELETE", "/v1/queries/bytes-per-user")
    check(st in (200, 204), "DELETE the bench query", 200, st)
    return rates


# ---- partition ---------------------------------------------------------------------------------

def cluster(s, c):
    st, doc = s.get(c, "/v1/cluster", timeout=3)
    return doc if st == 200 else None


def exec_curl(s, service, *args):
    """curl inside a container (reaches a node cut off from the network) with the admin's
    token, handed in as an argument: no container holds the token's file."""
    script = ('tok=$1; shift; curl -s --cacert /run/secrets/vexfs/tls/ca.crt -o /tmp/out '
              '-w "%{http_code}" -H "Authorization: Bearer $tok" "$@"; echo; cat /tmp/out')
    args = (s.token,) + args
    r = s.p.exec(service, "sh", "-c", script, "curl", *args, check_rc=False)
    code, _, body = r.stdout.partition("\n")
    try:
        return int(code), json.loads(body) if body.strip() else None
    except ValueError:
        return int(code or 0), body


def partition(s):
    def leader():
        for c in COORDS:
            doc = cluster(s, c)
            if doc and doc.get("role") == "leader":
                return c
        return None
    old = poll(leader, 30, "a coordinator leader")
    cid = s.p.containers(old)[0]
    clock.note(f"cutting off {old} (the leader) with docker network disconnect")
    s.p.docker("network", "disconnect", s.p.network, cid)
    t0 = time.monotonic()
    majority = [c for c in COORDS if c != old]

    def new_leader():
        for c in majority:
            doc = cluster(s, c)
            if doc and doc.get("role") == "leader":
                return c
        return None
    nl = poll(new_leader, 60, "a new leader among the majority")
    for i in range(3):
        ev = {"type": "filesystem_write", "path": f"/partition/majority-{i}.txt",
              "content": {"n": str(i)}}
        st, doc = s.call(nl, "POST", "/v1/events", ev, timeout=30)
        check(st == 200 and doc.get("index"), f"POST /v1/events to the majority's leader {nl}",
              "200 with a commit index", f"{st} {doc}")
    commit = cluster(s, nl)["commit_index"]
    clock.note(f"majority: {nl} leads and committed 3 writes (commit index {commit}) "
               f"{time.monotonic() - t0:.1f} s after the cut")

    def refused():
        code, doc = exec_curl(s, old, "https://localhost:8082/v1/cluster")
        if code != 200 or not doc.get("partitioned"):
            return False, f"{code} {doc}"
        code, doc = exec_curl(s, old, "-X", "POST", "-d",
                              '{"type":"filesystem_write","path":"/partition/minority.txt"}',
                              "https://localhost:8082/v1/events")
        return (code == 503 and doc["error"]["code"] == "partitioned") or (False, f"{code} {doc}")
    poll(refused, 60, f"{old} reports partitioned and refuses writes with 503 partitioned")
    clock.note(f"minority: {old} reports partitioned and answers a write 503 partitioned")

    ip = COORDS[old]
    s.p.docker("network", "connect", "--ip", ip, "--alias", old, s.p.network, cid)

    def healed():
        doc = cluster(s, old)
        if not doc or doc.get("partitioned") or doc.get("commit_index", 0) < commit:
            return False, doc
        st, state = s.get(old, "/v1/state?consistency=any&key=/partition/majority-2.txt")
        st_r, _ = s.get(old, "/ready")
        return (st == 200 and st_r == 200) or (False, f"state {st}, ready {st_r}")
    poll(healed, 60, f"{old} rejoins: ready, commit index >= {commit}, the majority's writes")
    clock.note(f"healed: {old} rejoined, caught up past index {commit} and holds the majority's "
               f"writes")


# ---- crashes under load ------------------------------------------------------------------------

class Loader:
    """Steady acknowledged load: batches POSTed to propagation with ?durable=true, answered
    only once Kafka journaled them. Records which events were acknowledged."""

    def __init__(self, s, threads=2, batch=20, period=0.1):
        self.s, self.batch, self.period = s, batch, period
        self.acked, self.failed, self.sent = set(), 0, 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]
        self.url = s.url("propagation") + "/v1/events?durable=true"

    def run(self, tid):
        n = 0
        while not self.stop.is_set():
            t0 = time.monotonic()
            paths = [f"/srv/vexfs/demo/load/t{tid}-b{n}-{i}.log" for i in range(self.batch)]
            n += 1
            body = [{"type": "filesystem_write", "path": p, "content": {"size": "100"}}
                    for p in paths]
            try:
                st, _ = http("POST", self.url, body, token=self.s.token, timeout=40)
            except OSError:
                st = 0
            with self.lock:
                self.sent += len(paths)
                if st == 200:
                    self.acked.update(paths)
                else:
                    self.failed += len(paths)
            self.stop.wait(max(0.0, self.period - (time.monotonic() - t0)))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def count(self):
        with self.lock:
            return len(self.acked)


def ready(s, service):
    """The service answers again: /ready of a daemon, Kafka's metadata, Prometheus' /-/ready;
    the console reads (runs)."""
    if service == "console":
        return s.p.health(s.p.containers(service)[0]) == "running"
    if service == "kafka":
        r = s.p.exec("kafka", *KCAT, "-L", "-m", "3", check_rc=False)
        return r.returncode == 0 or (False, r.stderr.strip()[-200:])
    path = "/-/ready" if service == "prometheus" else "/ready"
    st, doc = s.get(service, path, timeout=3)
    return st == 200 or (False, f"{st} {doc}")


def crash(s, service):
    """SIGKILL to the container's main process from the host, as a crash or the kernel's OOM
    killer does it. (`docker kill` is a user's stop: Docker's restart policy then does not
    restart the container.)"""
    cid = s.p.containers(service)[0]
    info = s.p.inspect(cid)
    restarts, pid = info["RestartCount"], info["State"]["Pid"]
    os.kill(pid, 9)
    t0 = time.monotonic()

    def restarted():
        i = s.p.inspect(cid)
        return (i["RestartCount"] > restarts and i["State"]["Running"]) or \
            (False, f"restarts {i['RestartCount']}, state {i['State']['Status']}")
    poll(restarted, 60, f"{service} restarted by its restart policy")
    t_restart = time.monotonic() - t0
    poll(lambda: ready(s, service), 120, f"{service} ready again")
    poll(s.status_green, 120, f"vexfsctl status green after the crash of {service}")
    return t_restart, time.monotonic() - t0


def journal_keys(s, since_ms):
    """Keys (paths) of the journal's messages from since_ms (Kafka timestamp) on."""
    r = s.p.exec("kafka", *KCAT, "-C", "-t", "vexfs.events", "-e", "-q",
                 "-o", f"s@{since_ms}", "-f", "%k\\n", timeout=300)
    return set(r.stdout.split())


def crashes(s):
    order = ["kafka", "propagation", "routing", "coordinator-1", "coordinator-2", "coordinator-3",
             "automation", "analytics", "console", "watch", "prometheus"]
    since_ms = int(time.time() * 1000) - 5_000  # the broker's clock is this kernel's
    with Loader(s) as load:
        poll(lambda: load.count() >= 100, 60, "the load acknowledged (first 100 events)")
        for svc in order:
            a0 = load.count()
            t_restart, t_green = crash(s, svc)
            poll(lambda: load.count() > a0 + 40, 120,
                 f"acknowledged load going on after the crash of {svc}")
            clock.note(f"crashed {svc}: restarted after {t_restart:.1f} s, status green after "
                       f"{t_green:.1f} s; {load.count()} events acknowledged so far")
    clock.note(f"load: {load.sent} events sent, {len(load.acked)} acknowledged, {load.failed} "
               f"not acknowledged (refused or timed out while a service was down)")
    journal = poll(lambda: (lambda k: load.acked <= k and k)(journal_keys(s, since_ms)), 120,
                   "every acknowledged event in the Kafka journal vexfs.events")
    lost = load.acked - journal
    check(not lost, "acknowledged events missing from the journal", "none",
          f"{len(lost)}, e.g. {sorted(lost)[:5]}")
    clock.note(f"journal: all {len(load.acked)} acknowledged events are in vexfs.events "
               f"({len(journal)} keys read)")


# ---- scale -------------------------------------------------------------------------------------

SCALE_QUERY = "sizes-by-type"


def scale_events(base_ns, tag):
    """600 writes over 4 s of event time from base_ns, then one 10 s later that moves the
    clock past them (the other partitions follow through the idle timeout)."""
    out = []
    for i in range(600):
        out.append({"type": "filesystem_write", "path": f"/scale/{tag}/u{i % 7}/f{i}.log",
                    "timestamp_ns": base_ns + i * 4_000_000_000 // 600,
                    "content": {"size": str((i * 37) % 1000 + (i % 3) * 1000)},
                    "metadata": {"user_id": f"u{i % 7}"}})
    out.append({"type": "filesystem_write", "path": f"/scale/{tag}/closer.log",
                "timestamp_ns": base_ns + 10_000_000_000, "content": {"size": "1"}})
    return out


def windows_of(s, service_url, base_ns):
    st, doc = http("GET", service_url + f"/v1/queries/{SCALE_QUERY}/results?limit=1000")
    check(st == 200, f"GET {service_url} results", 200, f"{st} {doc}")
    out = {}
    for w in doc.get("closed", []):
        off = w["start_ns"] - base_ns
        if 0 <= off < 4_000_000_000:
            out[(off, json.dumps(w["group"], sort_keys=True))] = \
                (w.get("events"), json.dumps(w.get("values"), sort_keys=True))
    return out


def complete_windows(s, url, base_ns):
    """The 4 windows of scale_events once every partition's part is in: 150 writes each (the
    group's merged view grows as each partition's owner closes its share of a window)."""
    w = windows_of(s, url, base_ns)
    counts = sorted((off // 1_000_000_000, ev) for (off, _), (ev, _) in w.items())
    return (len(w) == 4 and all(ev == 150 for _, ev in counts) and w) or (False, counts)


def analytics_urls(s):
    return [f"https://{s.p.ip(c)}:8084" for c in s.p.containers("analytics", all_states=False)]


def scale(s):
    now = time.time_ns()
    base1 = (now // 1_000_000_000 + 30) * 1_000_000_000  # ahead of every event so far
    base2 = base1 + 30_000_000_000
    s.emit(scale_events(base1, "one"))
    one = poll(lambda: complete_windows(s, analytics_urls(s)[0], base1), 60,
               "4 closed windows of 150 writes each (one analytics instance)")
    clock.note(f"one instance: {len(one)} closed windows of {SCALE_QUERY}")

    s.p.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "analytics=3", "analytics")
    poll(lambda: len(analytics_urls(s)) == 3 and all(
        s.p.health(c) == "healthy" for c in s.p.containers("analytics", all_states=False)),
        120, "three healthy analytics instances")

    def balanced():
        # Partitions owned = assigned - revoked: the group has settled when each of the three
        # owns some and together they own all six.
        owned = []
        for u in analytics_urls(s):
            st, text = http("GET", u + "/metrics")
            owned.append(metric_sum(text, "vexfs_analytics_rebalances_total", {"kind": "assign"}) -
                         metric_sum(text, "vexfs_analytics_rebalances_total", {"kind": "revoke"}))
        return (all(o >= 1 for o in owned) and sum(owned) == 6) or (False, owned)
    poll(balanced, 60, "partitions assigned to all three instances")
    s.emit(scale_events(base2, "three"))
    urls = analytics_urls(s)
    answers = [poll(lambda u=u: complete_windows(s, u, base2), 90,
                    f"4 closed windows of 150 writes each from {u} (three instances)")
               for u in urls]
    for u, a in zip(urls, answers):
        check(a == one, f"closed windows from {u} with three instances",
              f"the same as with one instance ({one})", a)
    clock.note(f"three instances: each of {len(urls)} answers the same {len(one)} windows as one "
               f"instance did")
    s.p.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "analytics=1", "analytics")


# ---- down and leftovers ------------------------------------------------------------------------

def down_clean(s):
    t0 = time.monotonic()
    s.p.compose("down", "-v", "--remove-orphans", timeout=300)
    label = f"label=com.docker.compose.project={s.p.name}"
    left = {
        "containers": s.p.docker("ps", "-aq", "--filter", label).stdout.split(),
        "volumes": s.p.docker("volume", "ls", "-q", "--filter", label).stdout.split(),
        "networks": s.p.docker("network", "ls", "-q", "--filter", label).stdout.split(),
    }
    check(not any(left.values()), "after down -v", "no container, volume or network", left)
    clock.note(f"down -v in {time.monotonic() - t0:.1f} s; no container, volume or network left")


# ---- main --------------------------------------------------------------------------------------

def renice_broker(value):
    """The host's broker (scripts/kafka.sh) at this process's nice value while the processes
    are measured, as the containers' broker runs at the engine's: the same footing for both
    figures. Every thread (nice is per thread). Returns a function that puts them back (threads
    started meanwhile get the main thread's former value)."""
    work = os.environ.get("VEXFS_KAFKA_DIR", "/tmp/vexfs-kafka")
    old, pid = {}, None
    try:
        pid = int(open(os.path.join(work, "broker.pid"), encoding="utf-8").read())
        for tid in map(int, os.listdir(f"/proc/{pid}/task")):
            old[tid] = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, value)
    except (OSError, ValueError) as e:
        clock.note(f"(the host broker keeps its priority: {e})")

    def restore():
        try:
            for tid in map(int, os.listdir(f"/proc/{pid}/task")):
                os.setpriority(os.PRIO_PROCESS, tid, old.get(tid, old.get(pid, 0)))
        except (OSError, TypeError):
            pass
    return restore


def make_secrets(folder):
    """The secrets of the deployment (VEXFS_SECRETS_DIR; each container is given its
    identity's folder services/NAME at /run/secrets/vexfs), made by the documented step
    (scripts/deploy-secrets.sh FOLDER --owner 10001:10001: CURVE keys, TLS certificates,
    credentials, the admin token). Material already there is kept: running containers read
    it at start (VX_COMPOSE_ONLY runs). https URLs then trust its CA. Returns the admin
    token. Needs root (the containers' uid 10001 owns the folder, with private modes)."""
    if not os.path.isdir(os.path.join(folder, "keys")):
        env = dict(os.environ, VEXFSCTL=os.path.join(ROOT, "build", "bin", "vexfsctl"))
        r = subprocess.run([os.path.join(ROOT, "scripts", "deploy-secrets.sh"), folder,
                            "--owner", "10001:10001"], env=env, capture_output=True, text=True)
        check(r.returncode == 0, "scripts/deploy-secrets.sh", "exit 0",
              f"exit {r.returncode}: {r.stderr.strip()}")
    token = open(os.path.join(folder, "admin-token"), encoding="utf-8").read().strip()
    use_ca(os.path.join(folder, "tls", "ca.crt"), token)
    return token


def median_spread(xs):
    return (f"median {statistics.median(xs):,.0f} (min {min(xs):,.0f}, max {max(xs):,.0f}, "
            f"n={len(xs)})")


def main():
    work = os.environ.get("VX_COMPOSE_WORK") or os.path.join(ROOT, "build", "compose-test")
    os.makedirs(work, exist_ok=True)
    secrets_dir = os.path.join(work, "secrets")
    os.makedirs(secrets_dir, exist_ok=True)
    token = make_secrets(secrets_dir)
    # The daemons know the admin's token by its hash in credentials.yaml; the token file
    # itself stays with the operator (no container is given it).
    env = {"VEXFS_SECRETS_DIR": secrets_dir,
           # Compose builds through Debian's docker CLI with the classic builder, as the
           # tagging of the build stage below does: the same build context, so the same
           # cached layers (docker-compose's own builder packs the context differently).
           "COMPOSE_DOCKER_CLI_BUILD": "1", "DOCKER_BUILDKIT": "0",
           "PATH": "/usr/bin:" + os.environ.get("PATH", "")}
    project = Project(ROOT, os.environ.get("VX_COMPOSE_PROJECT", "vexfsci"), env)
    s = Suite(project, token, work)
    bench_bin = os.environ.get("VX_BENCH_BIN", os.path.join(ROOT, "build", "bench", "bench_suite"))
    runs = int(os.environ.get("VX_COMPOSE_BENCH_RUNS", "3"))
    seconds = int(os.environ.get("VX_COMPOSE_BENCH_SECONDS", "2"))
    results = {}
    # The build cache as scripts/compose-test.sh found it: cold (its engine's persistent root
    # has never built these images), warm, or unknown (an engine of the machine's own).
    first = os.environ.get("VX_COMPOSE_CACHE", "as found")

    def keep(key, fn):
        return lambda: results.__setitem__(key, fn())
    steps = [
        ("build", f"build the images ({first} cache)", keep("build_cold", lambda: build(s, first))),
        ("up", "up: every service healthy", keep("up_cold", lambda: up(s, first))),
        ("idle", "idle: no alert, vexfsctl health and status", lambda: idle(s)),
        ("e2e", "end to end from the producer container", lambda: end_to_end(s)),
        ("throughput", "throughput through the containers",
         keep("rates_containers", lambda: throughput_containers(s, bench_bin, runs, seconds))),
        ("partition", "a coordinator cut off and reconnected", lambda: partition(s)),
        ("crashes", "every service crashed in turn under acknowledged load", lambda: crashes(s)),
        ("scale", "--scale analytics=3 gives the same windows", lambda: scale(s)),
        ("down", "down -v", lambda: down_clean(s)),
        ("warm-build", "build again (warm cache)", keep("build_warm", lambda: build(s, "warm"))),
        ("warm-up", "up again: every service healthy", keep("up_warm", lambda: up(s, "warm"))),
        ("warm-down", "down -v", lambda: down_clean(s)),
    ]
    # VX_COMPOSE_ONLY=e2e,scale runs only those steps on a project already up (development).
    only = [k for k in os.environ.get("VX_COMPOSE_ONLY", "").split(",") if k]
    if first != "cold" and not only:  # the first build and up were the warm figures already
        steps = [st for st in steps if not st[0].startswith("warm-")]
    for key, name, fn in steps:
        if only and key not in only:
            continue
        clock.step(name)
        try:
            fn()
        except Failure as e:
            print(f"\nFAIL {name}: {e}", file=sys.stderr)
            log_failure_context(project, SERVICES)
            return 1
    if only and "processes" not in only:
        print("\ncompose-test: the steps asked for passed")
        return 0
    if "up_cold" in results:
        figure(f"up to all healthy, {first} build cache",
               f"{results['up_cold']:.1f} s after a {results['build_cold']:.1f} s build")
    if "up_warm" in results:
        figure("up to all healthy, warm build cache",
               f"{results['up_warm']:.1f} s after a {results['build_warm']:.1f} s build")

    clock.step("the same suite as processes on loopback "
               "(bench_suite --only kafka --journal --partitions 6)")
    restore = None
    try:
        check(os.environ.get("VEXFS_KAFKA_BOOTSTRAP"), "VEXFS_KAFKA_BOOTSTRAP",
              "a broker on the host", "unset")
        restore = renice_broker(os.nice(0))
        procs = bench_runs([bench_bin, "--only", "kafka", "--journal", "--partitions", "6",
                            str(seconds)],
                           dict(os.environ, VX_BIN_DIR=os.path.join(ROOT, "build", "bin")),
                           runs, "processes")
    except Failure as e:
        print(f"\nFAIL processes: {e}", file=sys.stderr)
        return 1
    finally:
        if restore:
            restore()
    figure("end to end, highest rate with no drops, processes on loopback",
           median_spread(procs) + " events/s")
    cont = results.get("rates_containers")
    if cont:
        figure("end to end, highest rate with no drops, containers",
               median_spread(cont) + " events/s")
        ratio = statistics.median(cont) / statistics.median(procs) if statistics.median(procs) \
            else 0
        figure("containers / processes", f"{ratio:.2f} (below 1: the containers' overhead)")
    print("\ncompose-test: every check passed; figures:")
    for name, text in figures:
        print(f"  {name}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
