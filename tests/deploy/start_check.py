# SPDX-License-Identifier: Apache-2.0
"""Real starts for tests/deploy/cross_check.py: a daemon is run with a shipped profile as a
container or a host would give it (the configuration file, the container's environment, its
command's arguments) and must answer GET /health, then stop with status 0 on SIGTERM.

`--check` only validates keys; a real start also reads the rules, patterns, workflows and
queries the profile names (a missing file, a rule naming an undefined boundary or a bad
pattern stops the daemon), opens its sockets and data folders and joins Kafka. What cannot be
the same on this machine is replaced through VEXFS_<SECTION>_<KEY> overrides, each printed
with --verbose:
  - files the profile names: the host file the container mount (or the image) provides;
  - data folders (*_dir) and the admin token (token_file): fresh temporary ones (an operator
    provides them; the static check verifies they are on a volume or in the image);
  - the security material (keys_dir, tls_dir, credentials_file): the host folder or file the
    image or the container's mounts provide at that path, filled by the documented step
    (secrets_check.py); REST is then HTTPS, checked against the deployment's CA;
  - every listening port: a free one on 127.0.0.1, so starts never collide with anything on
    a shared machine;
  - Kafka: the test broker (VEXFS_KAFKA_BOOTSTRAP), with topics and groups of its own; the
    profile's kafka_security files must exist where its mounts put them (like every file
    above), then the client settings of the test broker (VEXFS_KAFKA_SECURITY_*, from
    `scripts/kafka.sh env`) replace them, since that broker has its own CA and password;
  - coordinator members: the same ids on 127.0.0.1, since peers' names resolve only inside
    their cluster.
Peers that are absent (other daemons, producers' propagation) are connected to as usual:
ZeroMQ connects in the background, so a daemon does not need them to start.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import secrets_check as sc

# The keys each daemon binds (ZeroMQ), by section; '@'-prefixed or unprefixed values of
# PREFIXED keys bind too.
BIND_KEYS = {
    "event_propagation": ["ingest_endpoint", "ingest_acked_endpoint", "output_endpoint",
                          "tap_endpoint"],
    "event_routing": ["output_coordinator", "output_automation", "output_analytics",
                      "output_graph", "output_vector", "tap_endpoint"],
    "stream_analytics": ["results_endpoint"],
}
PREFIXED_KEYS = {
    "distributed_coordination": ["input_endpoint"],
    "stream_analytics": ["input_endpoint"],
}
# Kafka names a start gets of its own on the shared test broker.
KAFKA_NAME_KEYS = ["kafka_topic", "topic", "results_topic", "kafka_topic_prefix", "group_id"]


_given = set()
_given_lock = threading.Lock()


def free_port():
    """A port free a moment ago, never the same twice in this process: starts run in parallel,
    and two daemons on one port would answer each other's health checks."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with _given_lock:
            if port not in _given:
                _given.add(port)
                return port


def is_file_key(key):
    return key.endswith("_file") or key.endswith("_path") or key == "device"


def is_dir_key(key):
    return key.endswith("_dir")


def _rebind(value):
    """Every endpoint of a comma-separated list on a free loopback port, prefix kept."""
    out = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        m = re.fullmatch(r"([>@]?)tcp://[^:/]+:\d+", part)
        out.append(f"{m.group(1)}tcp://127.0.0.1:{free_port()}" if m else part)
    return ",".join(out)


def overrides(eff, section, resolve, tmp, kafka):
    """The environment that moves a start of `section`'s daemon onto this machine (see the
    module's comment). resolve(container_path) gives the host path of a file, or None.
    Returns (env, problems): problems are files that exist nowhere."""
    env, problems = {}, []
    conf = eff[section]

    def put(sec, key, val):
        env[f"VEXFS_{sec}_{key}".upper()] = str(val)

    put(section, "rest_port", free_port())
    for key in BIND_KEYS.get(section, []):
        if conf.get(key):
            put(section, key, _rebind(conf[key]))
    for key in PREFIXED_KEYS.get(section, []):
        if conf.get(key) and not conf[key].startswith(">"):
            put(section, key, _rebind(conf[key]))
    if section == "event_routing" and conf.get("outputs"):
        parts = []
        for item in conf["outputs"].split(";"):
            name, _, eps = item.partition("=")
            parts.append(f"{name}={_rebind(eps)}")
        put(section, "outputs", ";".join(parts))
    if section == "distributed_coordination" and conf.get("members"):
        ms = []
        for m in conf["members"].split(","):
            mm = re.fullmatch(r"\s*(\d+)@[^:]+:\d+(.*)", m)
            if mm:
                extra = "/".join(str(free_port()) for _ in mm.group(2).split("/")[1:])
                ms.append(f"{mm.group(1)}@127.0.0.1:{free_port()}" + (f"/{extra}" if extra else ""))
        put(section, "members", ",".join(ms))
        if conf.get("raft_bind"):
            put(section, "raft_bind", "127.0.0.1")
    if conf.get("kafka_brokers"):
        if kafka:
            put(section, "kafka_brokers", kafka)
            tag = f"xcheck.{os.getpid()}.{free_port()}."
            for key in KAFKA_NAME_KEYS:
                if conf.get(key):
                    put(section, key, tag + conf[key])
        else:
            problems.append("needs a Kafka broker (VEXFS_KAFKA_BOOTSTRAP) to start for real")
    for sec, keys in eff.items():
        for key, val in keys.items():
            if not isinstance(val, str) or not val:
                continue
            if (sec, key) in sc.READ_DIRS:
                host = resolve(val)
                if host is None or not os.path.isdir(host):
                    problems.append(f"{sec}.{key} = {val}: no such folder in the image or a "
                                    f"mount")
                else:
                    put(sec, key, host)
            elif is_dir_key(key):
                put(sec, key, tempfile.mkdtemp(prefix=f"{key}-", dir=tmp))
            elif key == "token_file":
                tok = os.path.join(tmp, "admin-token")
                with open(tok, "w", encoding="utf-8") as f:
                    f.write("cross-check-token\n")
                put(sec, key, tok)
            elif is_file_key(key) and key != "device":
                host = resolve(val)
                if host is None:
                    problems.append(f"{sec}.{key} = {val}: no such file in the image or a mount")
                else:
                    put(sec, key, host)
    if conf.get("kafka_brokers") and kafka and "kafka_security" in eff:
        test_broker = {k: v for k, v in os.environ.items()
                       if k.startswith("VEXFS_KAFKA_SECURITY_")}
        if not test_broker:
            problems.append("the test broker's client settings are missing "
                            "(VEXFS_KAFKA_SECURITY_*: eval \"$(scripts/kafka.sh env)\")")
        env.update(test_broker)
    return env, problems


def _health(port, ca):
    try:
        if ca:
            ctx = ssl.create_default_context(cafile=ca)
            url = f"https://127.0.0.1:{port}/health"
        else:
            ctx, url = None, f"http://127.0.0.1:{port}/health"
        with urllib.request.urlopen(url, timeout=1, context=ctx) as r:
            return r.status == 200
    except OSError:
        return False


def start(exe, args, cfg_path, env, rest_port, log_path, ca=None, timeout=45):
    """Runs exe with the configuration; returns None when it answered /health (over HTTPS
    verified with the CA file ca when given) and stopped with status 0 on SIGTERM, else what
    went wrong (with the end of its log)."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("VEXFS_")}
    run_env.update(env)
    with open(log_path, "w", encoding="utf-8") as log:
        p = subprocess.Popen([exe] + args + ["--config", cfg_path], env=run_env,
                             stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + timeout
    problem = None
    while True:
        if p.poll() is not None:
            problem = f"exited with status {p.returncode} during start"
            break
        if _health(rest_port, ca):
            break
        if time.monotonic() > deadline:
            problem = f"no answer on /health within {timeout} s"
            break
        time.sleep(0.1)
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(45)
            if rc != 0 and not problem:
                problem = f"exited with status {rc} after SIGTERM"
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            problem = problem or "did not stop within 45 s of SIGTERM"
    if problem:
        tail = open(log_path, encoding="utf-8", errors="replace").read().strip().splitlines()
        problem += ": " + " | ".join(tail[-4:])
    return problem
