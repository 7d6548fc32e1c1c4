#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Cross-checks docker/ and k8s/ against what the daemons really read and export.

Every configuration a container gets (config/docker.yaml with the compose environment, the
Kubernetes ConfigMap with each pod's environment) is given to the real daemon with --check and
--print-config; then ports, probes, health checks, endpoints, peers, Service selectors, the
autoscaler and disruption budget targets, Prometheus targets and every metric named in the alert
rules and the dashboard are compared with that effective configuration and with the metric
registrations in services/ and lib/. For every profile (the compose services, the
Kubernetes containers, and the host profiles of config/) profile_check.py verifies the files
the configuration names (in the image, a mounted folder or a ConfigMap), the boundaries its
rule set names, the health rollup, and starts every daemon for real with it (start_check.py).
Any mismatch is printed and the exit status is 1.

usage: cross_check.py [--bin build/bin] [--k8s-render FILE...] [--render-out DIR] [--no-start]
  --k8s-render  manifests already rendered by `kubectl kustomize` (one file per entry point);
                without it the kustomizations are followed here (namespace, resources,
                configMapGenerator without the name hash).
  --no-start    skip the real starts (they need VEXFS_KAFKA_BOOTSTRAP, a broker to join).
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_check as pc  # noqa: E402
import secrets_check as sc  # noqa: E402
import start_check  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DAEMONS = {
    "vexfs-propagation": "event_propagation",
    "vexfs-routing": "event_routing",
    "vexfs-coordinator": "distributed_coordination",
    "vexfs-automation": "reactive_automation",
    "vexfs-analytics": "stream_analytics",
    "vexfs-forwarder": "event_forwarder",
    "vexfs-watch": "userspace_watcher",
    "vexfs-fuse": "fuse_layer",
}
# ZeroMQ endpoint keys: which ones bind and which connect ('>' connects and '@' binds where the
# daemon takes a prefix; see each daemon's --help).
BIND_KEYS = start_check.BIND_KEYS
CONNECT_KEYS = {
    "event_routing": ["input_endpoint"],
    "reactive_automation": ["input_endpoint", "emit_endpoint"],
    "event_forwarder": ["ingest_endpoint", "ack_endpoint"],
    "userspace_watcher": ["ingest_endpoint", "ack_endpoint"],
    "fuse_layer": ["ingest_endpoint", "ack_endpoint"],
}
PREFIXED_KEYS = start_check.PREFIXED_KEYS  # '>' connects, '@' (or none) binds
ANY_ADDR = ("0.0.0.0", "*")

failures = []
checks = 0
starts = None  # profile_check.Starts, when daemons are started for real
material = None  # secrets_check.Material: the deployment's security material, made here


def fail(where, msg):
    failures.append(f"{where}: {msg}")


def ok(cond, where, msg):
    global checks
    checks += 1
    if not cond:
        fail(where, msg)
    return cond


# ---- the daemons ---------------------------------------------------------------------------

def effective(binary_dir, daemon, cfg_path, env, where, resolve):
    """Runs the real daemon on the configuration: --check, then --print-config (JSON).
    The security material it reads must be where the deployment puts it (resolve: container
    path -> host path, or None); the daemon gets that host material, and the configuration
    returned shows the container's paths again."""
    exe = os.path.join(binary_dir, daemon)
    over, values, problems = sc.run_overrides(exe, cfg_path, env, resolve)
    for problem in problems:
        fail(where, problem)
    if problems:
        return None
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("VEXFS_")}
    run_env.update(env)
    run_env.update(over)
    r = subprocess.run([exe, "--check", "--config", cfg_path], env=run_env,
                       capture_output=True, text=True)
    if not ok(r.returncode == 0, where, f"{daemon} --check refused {cfg_path}: "
              f"{(r.stderr or r.stdout).strip()}"):
        return None
    r = subprocess.run([exe, "--print-config", "--config", cfg_path], env=run_env,
                       capture_output=True, text=True)
    if not ok(r.returncode == 0, where, f"{daemon} --print-config failed: {r.stderr.strip()}"):
        return None
    eff = json.loads(r.stdout)
    for (sec, key), val in values.items():
        if sec in eff and key in eff[sec]:
            eff[sec][key] = val
    return eff


def tls_required(eff):
    return eff.get("security", {}).get("tls") == "required"


def env_value_matches(expected, given):
    if isinstance(expected, bool):
        return (given.lower() in ("true", "1", "yes", "on")) == expected
    if isinstance(expected, int):
        try:
            return int(given.replace("_", "")) == expected
        except ValueError:
            return False
    return expected == given or expected == "***"


def check_env(where, daemon, eff, env):
    """Every VEXFS_* variable must name a key of this daemon and show in its configuration."""
    for name, value in env.items():
        if not name.startswith("VEXFS_"):
            continue
        hit = None
        for sec, keys in eff.items():
            for key, val in keys.items():
                if f"VEXFS_{sec}_{key}".upper() == name:
                    hit = (sec, key, val)
        if ok(hit is not None, where, f"environment {name} names no configuration key that "
              f"{daemon} reads"):
            sec, key, val = hit
            ok(env_value_matches(val, str(value)), where,
               f"{name}={value} but {daemon} reads {sec}.{key} = {val!r}")


def parse_endpoint(text):
    """'>tcp://host:port' -> (prefix, host, port) or None."""
    m = re.fullmatch(r"([>@]?)tcp://([^:/]+):(\d+)", text.strip())
    if not m:
        return None
    return m.group(1), m.group(2), int(m.group(3))


def endpoints(eff, section):
    """(bound, connected): lists of (key, host, port)."""
    conf = eff[section]
    bound, connected = [], []
    for key in BIND_KEYS.get(section, []):
        for part in filter(None, (p.strip() for p in conf.get(key, "").split(","))):
            e = parse_endpoint(part)
            if e:
                bound.append((key, e[1], e[2]))
            else:
                fail(section, f"{key}: cannot parse endpoint {part!r}")
    for key in CONNECT_KEYS.get(section, []):
        e = parse_endpoint(conf.get(key, "")) if conf.get(key) else None
        if e:
            connected.append((key, e[1], e[2]))
    for key in PREFIXED_KEYS.get(section, []):
        if not conf.get(key):
            continue
        if section == "stream_analytics" and key == "input_endpoint" and conf["kafka_brokers"]:
            continue  # read only without Kafka (services/analytics/an_input.c)
        e = parse_endpoint(conf[key])
        if e and e[0] == ">":
            connected.append((key, e[1], e[2]))
        elif e:
            bound.append((key, e[1], e[2]))
    return bound, connected


def kafka_brokers(eff, section):
    brokers = eff[section].get("kafka_brokers", "")
    out = []
    for b in filter(None, (x.strip() for x in brokers.split(","))):
        host, _, port = b.rpartition(":")
        out.append((host, int(port) if port.isdigit() else -1))
    return out


def members(eff):
    out = []
    for m in eff["distributed_coordination"]["members"].split(","):
        mm = re.fullmatch(r"(\d+)@([^:]+):(\d+)(?:/(\d+))?(?:/(\d+))?", m.strip())
        if mm:
            out.append({"id": int(mm.group(1)), "host": mm.group(2), "raft": int(mm.group(3)),
                        "rest": int(mm.group(4) or 0), "input": int(mm.group(5) or 0)})
        else:
            fail("distributed_coordination.members", f"cannot parse member {m!r}")
    return out


def listener_protocol(kenv, host, port):
    """Security protocol (SASL_SSL, SSL, ...) of the compose kafka service's advertised
    listener at host:port, through KAFKA_LISTENER_SECURITY_PROTOCOL_MAP; None without one."""
    pmap = dict(kv.split(":", 1) for kv in
                kenv.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",") if ":" in kv)
    for item in kenv.get("KAFKA_ADVERTISED_LISTENERS", "").split(","):
        m = re.fullmatch(r"\s*(\w+)://([^:]+):(\d+)\s*", item)
        if m and m.group(2) == host and int(m.group(3)) == port:
            return pmap.get(m.group(1), m.group(1))
    return None


def daemon_ports(eff, section, node_id=None):
    """Ports the daemon listens on: REST, bound endpoints, raft."""
    ports = {eff[section]["rest_port"]}
    ports |= {p for _, _, p in endpoints(eff, section)[0]}
    if section == "event_routing":
        ports |= {p for _, p in pc.zmq_outputs(eff[section])}
    if section == "distributed_coordination":
        ports |= {m["raft"] for m in members(eff) if m["id"] == node_id}
    return ports


def check_material(where, eff, section, daemon, resolve):
    """The files the daemon reads inside its security folders are there for the container:
    the TLS server's certificate, key and authority; the CURVE server key and the admitted
    keys where it binds (the coordinator's Raft peers: the admitted keys), its own key and the servers' public key where it connects; the
    audit key where it writes an audit log; Kafka's password file and CA where it joins Kafka."""
    sec = eff.get("security")
    if not sec:
        return
    need = []
    if sec.get("tls") == "required":
        need += [f"{sec['tls_dir']}/{f}" for f in ("ca.crt", "server.crt", "server.key")]
    if sec.get("curve") == "required":
        bound, connected = endpoints(eff, section)
        if bound or (section == "event_routing" and pc.zmq_outputs(eff[section])):
            need += [f"{sec['keys_dir']}/server.key", f"{sec['keys_dir']}/authorized"]
        elif section == "distributed_coordination":
            # Raft peers prove their own keys (<identity>.key) against authorized/.
            need += [f"{sec['keys_dir']}/authorized"]
        if connected or section == "distributed_coordination":
            ident = sec.get("identity") or daemon[len("vexfs-"):]
            need += [f"{sec['keys_dir']}/{ident}.key", f"{sec['keys_dir']}/server.pub"]
    if sec.get("audit_dir"):
        need.append(sec.get("audit_key_file") or f"{sec['keys_dir']}/audit.key")
    # Kafka clients: the SASL password file and the brokers' CA of kafka_security.
    ks = eff.get("kafka_security") or {}
    if eff[section].get("kafka_brokers") and ks:
        if ks.get("protocol", "").startswith("sasl"):
            ok(bool(ks.get("sasl_username")), where,
               f"{daemon}: kafka_security.sasl_username is empty with protocol {ks['protocol']}")
            need.append(ks.get("sasl_password_file", ""))
        if ks.get("protocol") in ("sasl_ssl", "ssl") and ks.get("ssl_ca_file"):
            need.append(ks["ssl_ca_file"])
    for path in need:
        host = resolve(path)
        ok(host is not None and (os.path.isfile(host) or
                                 (path.endswith("/authorized") and os.path.isdir(host) and
                                  os.listdir(host))), where,
           f"{daemon} reads {path}, which the image and the mounts do not provide")


def check_binds(where, eff, section):
    ok(eff[section]["rest_bind"] in ANY_ADDR, where,
       f"{section}.rest_bind is {eff[section]['rest_bind']!r}: unreachable from outside the "
       f"container (use 0.0.0.0)")
    for key, host, _ in endpoints(eff, section)[0]:
        ok(host in ANY_ADDR, where, f"{section}.{key} binds {host}: unreachable from outside the "
           f"container (use 0.0.0.0)")
    if section == "distributed_coordination" and eff[section].get("raft_bind"):
        ok(eff[section]["raft_bind"] in ANY_ADDR, where, "raft_bind should be 0.0.0.0")


# ---- metrics -------------------------------------------------------------------------------

def exported_metrics():
    names, hist = set(), set()
    sources = glob.glob(os.path.join(ROOT, "services", "*", "*.c")) + \
        glob.glob(os.path.join(ROOT, "lib", "*.c"))
    services = [os.path.basename(d) for d in glob.glob(os.path.join(ROOT, "services", "*"))]
    for path in sources:
        text = open(path, encoding="utf-8").read()
        names |= set(re.findall(r'"(vexfs_[a-z0-9_]+)"', text))
        for suffix in re.findall(r'"vexfs_%s_([a-z0-9_]+)"', text):
            names |= {f"vexfs_{s}_{suffix}" for s in services}
        defines = dict(re.findall(r'#define\s+([A-Z_][A-Z0-9_]*)\s+"(vexfs_[a-z0-9_]+)"', text))
        for arg in re.findall(r"vx_metrics_histogram\(\s*[^,]+,\s*([^,]+),", text):
            arg = arg.strip()
            m = re.fullmatch(r'"(vexfs_[a-z0-9_]+)"', arg)
            name = m.group(1) if m else defines.get(arg)
            if name:
                hist.add(name)
    for h in hist:
        names |= {h + "_bucket", h + "_sum", h + "_count"}
    return names


def check_metrics(exprs, exported, jobs):
    for where, expr in exprs:
        for name in set(re.findall(r"\b(vexfs_[a-z0-9_]+)\b", expr)):
            ok(name in exported, where, f"metric {name} is exported by no daemon "
               f"(not registered in services/ or lib/)")
        for sel in re.findall(r'job\s*(=~|=)\s*"([^"]*)"', expr):
            wanted = sel[1].split("|") if sel[0] == "=~" else [sel[1]]
            for j in wanted:
                ok(j in jobs, where, f"job {j!r} is not a Prometheus job ({sorted(jobs)})")


# ---- docker compose ------------------------------------------------------------------------

def as_env(env):
    if isinstance(env, list):
        return dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in (env or {}).items()}


def dockerfile_health_port():
    text = open(os.path.join(ROOT, "docker", "Dockerfile"), encoding="utf-8").read()
    m = re.search(r"ENV VX_HEALTH_PORT=(\d+)", text)
    return int(m.group(1)) if m else None


def check_dockerfile(binary_dir):
    """The image's default command and its HEALTHCHECK port agree; the config it names ships."""
    text = open(os.path.join(ROOT, "docker", "Dockerfile"), encoding="utf-8").read()
    ok("COPY config/ /etc/vexfs/" in text, "Dockerfile", "config/ is not copied to /etc/vexfs")
    m = re.search(r'^CMD \["(vexfs-[a-z]+)", "--config", "/etc/vexfs/([^"]+)"\]', text, re.M)
    if ok(m and m.group(1) in DAEMONS, "Dockerfile", "CMD runs no vexfs daemon with --config"):
        # Run as documented: the folder of the daemon's identity mounted at /run/secrets/vexfs.
        image = pc.Image(os.path.join(ROOT, "docker", "Dockerfile"))
        mounts = [pc.Mount("bind", "/run/secrets/vexfs", os.path.join(
            material.dir, "services", m.group(1)[len("vexfs-"):]), True)]
        eff = effective(binary_dir, m.group(1), os.path.join(ROOT, "config", m.group(2)), {},
                        "Dockerfile CMD", pc.resolver(mounts, image, tempfile.mkdtemp()))
        if eff:
            rest = eff[DAEMONS[m.group(1)]]["rest_port"]
            ok(dockerfile_health_port() == rest, "Dockerfile", f"VX_HEALTH_PORT "
               f"{dockerfile_health_port()} but the default command serves REST on {rest}")
            if tls_required(eff):
                ca = re.search(r"ENV .*VX_HEALTH_CA=(\S+)", text)
                ok(ca and ca.group(1) == eff["security"]["tls_dir"] + "/ca.crt" and
                   re.search(r'HEALTHCHECK .*\n?.*--cacert "\$\{VX_HEALTH_CA\}" "https://', text),
                   "Dockerfile", f"REST is HTTPS (security.tls required): HEALTHCHECK must ask "
                   f"https:// with --cacert {eff['security']['tls_dir']}/ca.crt (VX_HEALTH_CA)")
    ok(re.search(r"HEALTHCHECK .*\n?.*/health", text), "Dockerfile", "HEALTHCHECK without /health")
    ok(re.search(r"^USER (?!0|root)", text, re.M), "Dockerfile", "runs as root")


def compose_doc(path):
    """The compose file as Compose reads it (`docker-compose config`: anchors merged, variables
    at their defaults, paths absolute)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEXFS_")}
    env["VEXFS_SECRETS_DIR"] = material.dir  # the documented step's folder
    r = subprocess.run(["docker-compose", "-f", path, "config"], env=env, capture_output=True,
                       text=True)
    if not ok(r.returncode == 0, "compose", f"docker-compose config: {r.stderr.strip()}"):
        return {"services": {}}
    return yaml.safe_load(r.stdout)


def container_port(p):
    """The container side of a `ports` entry, short ("8080:8080") or long ({target: 8080})."""
    if isinstance(p, dict):
        return int(p["target"])
    return int(str(p).split(":")[-1].split("/")[0])


def compose_mounts(svc):
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            src, dst, ro, kind = v.get("source"), v["target"], v.get("read_only", False), v["type"]
        else:
            parts = v.split(":")
            src, dst = parts[0], parts[1]
            ro = len(parts) > 2 and "ro" in parts[2].split(",")
            kind = "bind" if src.startswith("/") else "volume"
        out.append(pc.Mount("bind" if kind == "bind" else "named", dst, src, ro))
    for t in svc.get("tmpfs", []) or []:
        out.append(pc.Mount("volume", t, None, False))
    return out


def material_folders(mounts):
    """The host folders of the deployment's security material among a container's mounts."""
    root = os.path.realpath(material.dir)
    return [m.source for m in mounts if m.kind == "bind" and m.source and
            (os.path.realpath(m.source) + "/").startswith(root + "/")]


def check_own_keys(where, identity, serves, folders):
    """No container is given another identity's secret key (scripts/deploy-secrets.sh gives
    each identity a folder, and each Secret of a pod is its identity's or holds no key)."""
    bad = sc.foreign_keys(identity, serves, folders)
    ok(not bad, where, f"runs as identity {identity} but is given the secret keys of "
       f"{', '.join(bad)}")


def check_ctl_command(where, binary_dir, cmd):
    """A vexfsctl command of a service: its command exists and takes every option given."""
    words = [w for w in cmd[1:] if not w.startswith("-")]
    r = subprocess.run([os.path.join(binary_dir, "vexfsctl"), *words[:1], "--help"],
                       capture_output=True, text=True)
    text = r.stdout + r.stderr
    if not ok(r.returncode == 0 and words and f"vexfsctl {words[0]}" in text, where,
              f"vexfsctl has no command {words[:1]}: {text.strip()[:200]}"):
        return
    for w in cmd[1:]:
        if w.startswith("--"):
            ok(re.search(rf"(^|[\s\[,]){re.escape(w.split('=')[0])}\b", text), where,
               f"vexfsctl {words[0]} takes no option {w} (vexfsctl {words[0]} --help)")


def check_compose(binary_dir):
    path = os.path.join(ROOT, "docker", "docker-compose.yml")
    doc = compose_doc(path)
    services = doc["services"]
    info = {}
    image = pc.Image(os.path.join(ROOT, "docker", "Dockerfile"))
    tmp = tempfile.mkdtemp(prefix="vexfs-xcheck-")
    readers = []  # (service, host, port) of every connection, vexfsctl readers included
    ctl_readers = []  # those of vexfsctl commands
    for name, svc in services.items():
        cmd = svc.get("command") or []
        if cmd and os.path.basename(cmd[0]) == "vexfsctl":
            check_ctl_command(f"compose {name}", binary_dir, cmd)
            check_own_keys(f"compose {name}", as_env(svc.get("environment")).get(
                "VEXFS_SECURITY_IDENTITY") or "ctl", False, material_folders(compose_mounts(svc)))
        if cmd and os.path.basename(cmd[0]) == "vexfsctl" and "--endpoint" in cmd:
            e = parse_endpoint(cmd[cmd.index("--endpoint") + 1])
            if e:
                readers.append((name, e[1], e[2]))
                ctl_readers.append((name, e[1], e[2]))
        if not cmd or os.path.basename(cmd[0]) not in DAEMONS:
            continue
        where = f"compose {name}"
        daemon = os.path.basename(cmd[0])
        section = DAEMONS[daemon]
        if not ok("--config" in cmd, where, "command has no --config"):
            continue
        cpath = cmd[cmd.index("--config") + 1]
        mounts = compose_mounts(svc)
        resolve = pc.resolver(mounts, image, tmp)
        host_path = resolve(cpath)
        if not ok(host_path and os.path.isfile(host_path), where,
                  f"--config {cpath} is neither in a folder mounted from the repository nor in "
                  f"the image"):
            continue
        env = as_env(svc.get("environment"))
        eff = effective(binary_dir, daemon, host_path, env, where, resolve)
        if eff is None:
            continue
        check_env(where, daemon, eff, env)
        check_binds(where, eff, section)
        pc.check_files(ok, where, eff, mounts, image, resolve, not svc.get("read_only"))
        check_material(where, eff, section, daemon, resolve)
        check_own_keys(where, sc.identity_of(eff, daemon), True, material_folders(mounts))
        pc.check_rules(ok, where, eff, resolve)
        if starts:
            args = cmd[1:cmd.index("--config")] + cmd[cmd.index("--config") + 2:]
            starts.add(where, daemon, section, host_path, env, args, eff, resolve)
        node_id = eff[section].get("node_id")
        info[name] = {"daemon": daemon, "section": section, "eff": eff,
                      "ports": daemon_ports(eff, section, node_id), "svc": svc,
                      "resolve": resolve}
        rest = eff[section]["rest_port"]
        hc = svc.get("healthcheck")
        if hc:
            test = " ".join(hc["test"]) if isinstance(hc["test"], list) else hc["test"]
            scheme = "https" if tls_required(eff) else "http"
            ok(re.search(rf"{scheme}://(127\.0\.0\.1|localhost):{rest}/health\b", test), where,
               f"healthcheck {test!r} does not ask {scheme}:// /health on the REST port {rest}")
            if tls_required(eff):
                ca = eff["security"]["tls_dir"] + "/ca.crt"
                ok(f"--cacert {ca}" in test and resolve(ca), where,
                   f"healthcheck {test!r}: REST is HTTPS; curl needs --cacert {ca}, provided by "
                   f"a mount or the image")
        else:
            port = int(env.get("VX_HEALTH_PORT", dockerfile_health_port() or 0))
            ok(port == rest, where, f"image HEALTHCHECK asks port {port}, REST is on {rest}: "
               f"set VX_HEALTH_PORT or a healthcheck")
        for p in svc.get("ports", []):
            cport = container_port(p)
            ok(cport in info[name]["ports"], where,
               f"published container port {cport} is not one {daemon} listens on "
               f"({sorted(info[name]['ports'])})")
        for p in svc.get("expose", []):
            ok(int(p) in info[name]["ports"], where,
               f"exposed port {p} is not one {daemon} listens on ({sorted(info[name]['ports'])})")
    ok("analytics" in info, "compose", "no analytics service")
    if "analytics" in info:
        a = services["analytics"]
        ok("container_name" not in a and not a.get("ports"), "compose analytics",
           "a scaled service must have no container_name and no fixed host port")
        ok(a.get("deploy", {}).get("replicas", 1) >= 1, "compose analytics", "replicas")

    # Connections: a peer is a compose service that listens on that port.
    kafka = services.get("kafka", {})
    advertised = as_env(kafka.get("environment")).get("KAFKA_ADVERTISED_LISTENERS", "")
    for name, i in info.items():
        where = f"compose {name}"
        readers.extend((name, h, p) for _, h, p in endpoints(i["eff"], i["section"])[1])
        for key, host, port in endpoints(i["eff"], i["section"])[1]:
            if ok(host in info, where, f"{i['section']}.{key} connects to {host!r}, which is no "
                  f"vexfs service of the compose file"):
                ok(port in info[host]["ports"], where, f"{i['section']}.{key} connects to "
                   f"{host}:{port} but {host} listens on {sorted(info[host]['ports'])}")
        for host, port in kafka_brokers(i["eff"], i["section"]):
            ok(f"{host}:{port}" in advertised, where,
               f"kafka_brokers {host}:{port} is not an advertised listener of the kafka service "
               f"({advertised})")
            # The listener speaks the daemon's kafka_security.protocol (SASL_SSL://kafka:9092
            # for sasl_ssl, through the listener security protocol map).
            want = (i["eff"].get("kafka_security") or {}).get("protocol", "").upper()
            got = listener_protocol(as_env(kafka.get("environment")), host, port)
            ok(want == got, where, f"kafka_brokers {host}:{port}: kafka_security.protocol is "
               f"{want.lower() or '(none)'} but the kafka service's listener there speaks "
               f"{got or '(no listener)'}")
        for dep, cond in (i["svc"].get("depends_on") or {}).items():
            ok(isinstance(cond, dict) and cond.get("condition") == "service_healthy", where,
               f"depends_on {dep} without condition service_healthy")
            ok(dep in services and ("healthcheck" in services[dep] or dep in info), where,
               f"depends_on {dep}, which has no health check")

    # Host names clients use for each HTTPS daemon: its service name (peers, Prometheus) and
    # the rollups' URLs.
    for name, i in info.items():
        check_cert_names(f"compose {name}", i["eff"], i["resolve"], {name},
                         "every other service")
    for name, i in info.items():
        if i["section"] != "stream_analytics":
            continue
        for item in filter(None, i["eff"].get("monitoring", {}).get("services", "").split(",")):
            m = re.fullmatch(r"\s*[^=]+=https?://([^:/]+):\d+/?\s*", item)
            if m and m.group(1) in info:
                check_cert_names(f"compose {m.group(1)}", info[m.group(1)]["eff"],
                                 info[m.group(1)]["resolve"], {m.group(1)},
                                 f"the health rollup of {name}")
            elif m:
                check_cert_names(f"compose {name}", i["eff"], i["resolve"], {m.group(1)},
                                 f"its own health rollup")
    for name, host, port in ctl_readers:
        ok(host in info and port in info[host]["ports"], f"compose {name}",
           f"vexfsctl connects to {host}:{port}, where " +
           (f"{host} listens on {sorted(info[host]['ports'])}" if host in info else
            "no vexfs service listens"))

    # Every ZeroMQ boundary routing binds has a reader: PUSH blocks when nobody reads, and
    # routing then waits on that boundary.
    for name, i in info.items():
        if i["section"] != "event_routing":
            continue
        for boundary, port in pc.zmq_outputs(i["eff"]["event_routing"]):
            ok(any(h == name and p == port for _, h, p in readers), f"compose {name}",
               f"boundary {boundary!r} (port {port}) has no reader among the services")
    # The health rollup of analytics probes every daemon service at its REST port.
    expected = {n: {f"{n}:{i['eff'][i['section']]['rest_port']}"} for n, i in info.items()}
    for name, i in info.items():
        if i["section"] == "stream_analytics":
            rest = i["eff"]["stream_analytics"]["rest_port"]
            exp = dict(expected)
            exp[name] = exp[name] | {f"127.0.0.1:{rest}", f"localhost:{rest}"}
            pc.check_rollup(ok, f"compose {name}", i["eff"], exp)

    # Producers' resends fall inside propagation's dedup window.
    for name, i in info.items():
        if i["section"] == "event_propagation":
            pc.check_resend_dedup(ok, f"compose {name}", i["eff"],
                                  [(n, j["eff"]) for n, j in info.items()
                                   if j["section"] in pc.PRODUCERS])

    # The coordinators: members by service name, node ids, fixed addresses.
    coords = {n: i for n, i in info.items() if i["section"] == "distributed_coordination"}
    for name, i in coords.items():
        where = f"compose {name}"
        eff = i["eff"]["distributed_coordination"]
        ms = members(i["eff"])
        ok(len(ms) == eff["cluster_size"] == len(coords), where,
           f"{len(ms)} members, cluster_size {eff['cluster_size']}, {len(coords)} coordinator "
           f"services")
        mine = [m for m in ms if m["id"] == eff["node_id"]]
        ok(mine and mine[0]["host"] == name, where,
           f"node_id {eff['node_id']} is member {mine[0]['host'] if mine else None!r}, not {name}")
        extra = dict(h.split(":", 1) for h in i["svc"].get("extra_hosts", []))
        for m in ms:
            peer = coords.get(m["host"])
            if not ok(peer is not None, where, f"member {m['host']} is no coordinator service"):
                continue
            pe = peer["eff"]["distributed_coordination"]
            ok(pe["node_id"] == m["id"], where, f"member {m['id']}@{m['host']} but {m['host']} "
               f"runs node_id {pe['node_id']}")
            ok(m["rest"] in (0, pe["rest_port"]), where,
               f"member {m['host']} REST port {m['rest']}, service has {pe['rest_port']}")
            nets = peer["svc"].get("networks")
            ip = None
            if isinstance(nets, dict):
                ip = next((v.get("ipv4_address") for v in nets.values() if v), None)
            ok(ip is not None and extra.get(m["host"]) == ip, where,
               f"extra_hosts maps {m['host']} to {extra.get(m['host'])}, its address is {ip}")

    # Prometheus: every target is a vexfs service on its REST port; every service is scraped.
    base = os.path.dirname(path)
    prom = yaml.safe_load(open(os.path.join(base, "prometheus", "prometheus.yml"),
                               encoding="utf-8"))
    scraped, jobs = set(), set()
    promsvc = services.get("prometheus", {})
    check_own_keys("compose prometheus", "prometheus", False,
                   material_folders(compose_mounts(promsvc)))
    prom_resolve = pc.resolver(compose_mounts(promsvc), pc.Image(os.path.join(
        ROOT, "docker", "prometheus", "Dockerfile")), tmp)
    for job in prom["scrape_configs"]:
        jobs.add(job["job_name"])
        targets = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        targets += [f"{n}:{sd.get('port', 80)}" for sd in job.get("dns_sd_configs", [])
                    for n in sd["names"]]
        for t in targets:
            host, _, port = t.rpartition(":")
            where = f"prometheus job {job['job_name']}"
            if ok(host in info, where, f"target {t}: {host} is no vexfs service"):
                sec = info[host]["section"]
                ok(int(port) == info[host]["eff"][sec]["rest_port"], where,
                   f"target {t}: {host} serves /metrics on {info[host]['eff'][sec]['rest_port']}")
                check_scrape_tls(where, job, host, info[host], prom_resolve)
                server_name = (job.get("tls_config") or {}).get("server_name", host)
                check_cert_names(where, info[host]["eff"], info[host]["resolve"],
                                 {server_name}, f"Prometheus (job {job['job_name']})")
                scraped.add(host)
    for name in info:
        ok(name in scraped, "prometheus", f"service {name} is not scraped")
    ok(any(m.source == os.path.join(base, "prometheus") for m in compose_mounts(promsvc)),
       "compose prometheus", "docker/prometheus is not mounted")
    return jobs


def cert_cn(path):
    """The common name of a PEM certificate."""
    r = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline",
                        "-in", path], capture_output=True, text=True)
    m = re.search(r"commonName\s*=\s*(\S+)", r.stdout)
    return m.group(1) if m else None


ROLES = {"viewer": 1, "operator": 2, "admin": 3}


def cert_names(path):
    """The DNS names and IP addresses a PEM certificate is valid for."""
    r = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", path],
                       capture_output=True, text=True)
    return set(re.findall(r"(?:DNS|IP Address):([^,\s]+)", r.stdout))


def check_cert_names(where, eff, resolve, hosts, what):
    """Clients reach a daemon serving HTTPS by these host names: its server certificate (as
    the container sees it) must be valid for each, or they refuse it."""
    sec = eff.get("security", {})
    if sec.get("tls") != "required":
        return
    host = resolve(f"{sec['tls_dir']}/server.crt")
    names = cert_names(host) if host else set()
    for h in sorted(hosts):
        ok(h in names, where, f"{what} reaches it as {h}, which its server certificate "
           f"{sec['tls_dir']}/server.crt does not name (it names {sorted(names)})")


def check_scrape_tls(where, job, host, target, resolve):
    """A Prometheus job scraping a daemon that serves HTTPS: scheme https, the deployment's
    CA, and (unless security.metrics_open) a client certificate whose common name is a
    credential of at least viewer in the credentials file the daemon reads; every file
    provided by Prometheus's mounts."""
    sec = target["eff"].get("security", {})
    if sec.get("tls") != "required":
        return
    tc = job.get("tls_config") or {}
    ok(job.get("scheme") == "https", where, f"scrapes {host}, which serves HTTPS, with scheme "
       f"{job.get('scheme', 'http')}")
    ca = f"{sec['tls_dir']}/ca.crt"
    ok(tc.get("ca_file") == ca and resolve(ca), where, f"tls_config.ca_file "
       f"{tc.get('ca_file')!r}: {host} is signed by {ca}, which Prometheus must have mounted")
    if sec.get("metrics_open"):
        return
    cert, key = tc.get("cert_file"), tc.get("key_file")
    hcert = resolve(cert) if cert else None
    if not ok(hcert and key and resolve(key), where, f"/metrics of {host} needs a credential: "
              f"tls_config cert_file {cert!r} and key_file {key!r} provided by a mount"):
        return
    cn = cert_cn(hcert)
    hcreds = target["resolve"](sec["credentials_file"])
    creds = (yaml.safe_load(open(hcreds, encoding="utf-8")) or {}).get("credentials", []) \
        if hcreds else []
    role = max((ROLES.get(c.get("role"), 0) for c in creds if c.get("certificate_cn") == cn),
               default=0)
    ok(role >= ROLES["viewer"], where, f"the client certificate {cert} (CN {cn}) is no viewer "
       f"in {host}'s {sec['credentials_file']}")


def check_monitoring(jobs):
    exported = exported_metrics()
    exprs = []
    for path in glob.glob(os.path.join(ROOT, "docker", "prometheus", "rules", "*.yml")):
        for g in yaml.safe_load(open(path, encoding="utf-8"))["groups"]:
            for r in g["rules"]:
                exprs.append((f"rule {r.get('alert') or r.get('record')}", r["expr"]))
    ok(exprs, "prometheus rules", "no rules found")
    dash = json.load(open(os.path.join(ROOT, "docker", "grafana", "dashboards", "vexfs.json"),
                          encoding="utf-8"))
    for p in dash["panels"]:
        for t in p.get("targets", []):
            exprs.append((f"dashboard panel {p['title']!r}", t["expr"]))
    check_metrics(exprs, exported, jobs)
    for path in glob.glob(os.path.join(ROOT, "docker", "grafana", "provisioning", "datasources",
                                       "*.yml")):
        for ds in yaml.safe_load(open(path, encoding="utf-8"))["datasources"]:
            ok(ds["url"] == "http://prometheus:9090", "grafana datasource", ds["url"])
            uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]}
            ok(uids == {ds["uid"]}, "grafana dashboard", f"datasource uids {uids} != {ds['uid']}")


# ---- Kubernetes ----------------------------------------------------------------------------

def kustomize(dirpath, seen_files):
    """A small kustomize: resources (files and directories), namespace, configMapGenerator."""
    k = yaml.safe_load(open(os.path.join(dirpath, "kustomization.yaml"), encoding="utf-8"))
    seen_files.add(os.path.join(dirpath, "kustomization.yaml"))
    docs = []
    for res in k.get("resources", []):
        p = os.path.normpath(os.path.join(dirpath, res))
        if os.path.isdir(p):
            docs += kustomize(p, seen_files)
        else:
            seen_files.add(p)
            docs += [d for d in yaml.safe_load_all(open(p, encoding="utf-8")) if d]
    for gen in k.get("configMapGenerator", []):
        data = {}
        for f in gen.get("files", []):
            key, _, src = f.rpartition("=")
            src_path = os.path.join(dirpath, src or key)
            seen_files.add(os.path.normpath(src_path))
            data[key or os.path.basename(src)] = open(src_path, encoding="utf-8").read()
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": gen["name"]}, "data": data})
    if k.get("namespace"):
        for d in docs:
            if d["kind"] != "Namespace":
                d["metadata"]["namespace"] = k["namespace"]
    return docs


def pod_templates(docs):
    """(workload, pod labels (selector-relevant), pod spec, ordinals or None)."""
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            t = d["spec"]["template"]
            out.append((d, t["metadata"].get("labels", {}), t["spec"]))
    return out


def selects(selector, labels, workload):
    """Does a Service/PDB selector match the pods of this workload?"""
    extra = {}
    if workload["kind"] == "StatefulSet":
        names = [f"{workload['metadata']['name']}-{i}" for i in range(workload["spec"]["replicas"])]
        if "statefulset.kubernetes.io/pod-name" in selector:
            if selector["statefulset.kubernetes.io/pod-name"] not in names:
                return False
            extra["statefulset.kubernetes.io/pod-name"] = selector[
                "statefulset.kubernetes.io/pod-name"]
    full = dict(labels, **extra)
    return all(full.get(k) == v for k, v in selector.items())


def container_daemon(c):
    cmd = (c.get("command") or []) + (c.get("args") or [])
    if cmd and os.path.basename(cmd[0]) in DAEMONS:
        return os.path.basename(cmd[0]), cmd, None
    if len(cmd) >= 3 and cmd[0] in ("/bin/sh", "sh") and cmd[1] == "-c":
        m = re.search(r"exec\s+(vexfs-[a-z]+)\s+(.*)$", cmd[2])
        if m and m.group(1) in DAEMONS:
            return m.group(1), [m.group(1)] + m.group(2).split(), cmd[2]
    return None, cmd, None


def shell_env(script, daemon, hostname):
    """Runs the pod's own shell command with the daemon replaced by `env`: the variables it
    exports for this pod."""
    probe = script.replace(f"exec {daemon}", "exec env #")
    r = subprocess.run(["/bin/sh", "-c", probe], env={"HOSTNAME": hostname, "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True)
    return dict(l.split("=", 1) for l in r.stdout.splitlines()
                if l.startswith("VEXFS_") and "=" in l)


def port_number(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def k8s_mounts(c, spec, cms, tmp, fill=True):
    """The container's mounts: ConfigMaps with their data, Secrets as the documented manifest
    (scripts/deploy-secrets.sh --k8s-manifest) fills them, emptyDirs an init container fills
    (fill), and volumes (PVCs, claim templates, emptyDir, hostPath)."""
    out = []
    for vm in c.get("volumeMounts", []):
        vol = next((v for v in spec.get("volumes", []) if v["name"] == vm["name"]), {})
        target = vm["mountPath"]
        if "configMap" in vol:
            cm = cms.get(vol["configMap"]["name"], {})
            out.append(pc.Mount("configmap", target, cm.get("data", {}), True))
        elif "secret" in vol:
            folder = material.secret_folder(vol["secret"]["secretName"],
                                            vol["secret"].get("items"))
            out.append(pc.Mount("secret", target, folder, True))
        elif "emptyDir" in vol and fill and vm.get("readOnly"):
            folder = tempfile.mkdtemp(prefix="filled-", dir=tmp)
            filled = sc.init_filled(vm["name"], spec, lambda ic: pc.resolver(
                k8s_mounts(ic, spec, cms, tmp, fill=False), pc.Image(os.path.join(
                    ROOT, "docker", "Dockerfile")), tmp), folder)
            out.append(pc.Mount("filled", target, folder, True) if filled else
                       pc.Mount("volume", target, None, True))
        else:
            out.append(pc.Mount("volume", target, None, vm.get("readOnly", False)))
    return out


def pod_selected(selector, labels, workload, hostname):
    """Does this selector pick the pod `hostname` of the workload?"""
    full = dict(labels)
    if workload["kind"] == "StatefulSet":
        full["statefulset.kubernetes.io/pod-name"] = hostname
    return bool(selector) and all(full.get(k) == v for k, v in selector.items())


# The only capabilities a container of the suite may be granted, and what for.
GRANTABLE_CAPS = {
    "SYS_MODULE": "loading vexfs_events.ko",
    "AUDIT_READ": "reading /proc/vexfs_events",
}


def check_least_privilege(where, c):
    """No container is privileged or may gain privileges; every one drops all capabilities and
    adds back at most one the suite names in GRANTABLE_CAPS."""
    sc = c.get("securityContext", {})
    ok(not sc.get("privileged", False), where, "is privileged")
    ok(sc.get("allowPrivilegeEscalation") is False, where,
       "does not set allowPrivilegeEscalation: false")
    caps = sc.get("capabilities", {})
    ok("ALL" in caps.get("drop", []), where, "does not drop ALL capabilities")
    for cap in caps.get("add", []):
        ok(cap in GRANTABLE_CAPS, where, f"adds capability {cap}, which the suite never needs")


def check_k8s(binary_dir, docs, label):
    services = [d for d in docs if d["kind"] == "Service"]
    image = pc.Image(os.path.join(ROOT, "docker", "Dockerfile"))
    cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    pods = pod_templates(docs)
    tmp = tempfile.mkdtemp(prefix="vexfs-xcheck-k8s-")
    listen = {}  # workload name -> {container port numbers the daemon listens on}
    configs = {}  # workload name -> [(eff, section, container, where)]
    resolvers = {}  # where -> that container's resolver
    for w, labels, spec in pods:
        wname = w["metadata"]["name"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            check_least_privilege(f"{label} {w['kind']}/{wname} container {c['name']}", c)
        for c in spec["containers"]:
            daemon, cmd, script = container_daemon(c)
            where = f"{label} {w['kind']}/{wname} container {c['name']}"
            if not daemon:
                continue
            section = DAEMONS[daemon]
            if not ok("--config" in cmd, where, "command has no --config"):
                continue
            cpath = cmd[cmd.index("--config") + 1]
            data = None
            for vm in c.get("volumeMounts", []):
                if cpath.startswith(vm["mountPath"].rstrip("/") + "/"):
                    vol = next((v for v in spec.get("volumes", []) if v["name"] == vm["name"]), {})
                    cm = cms.get(vol.get("configMap", {}).get("name"))
                    key = cpath[len(vm["mountPath"].rstrip("/")) + 1:]
                    if ok(cm is not None, where, f"volume {vm['name']} names no ConfigMap"):
                        data = cm["data"].get(key)
                        ok(data is not None, where, f"ConfigMap has no key {key}")
            if not ok(data is not None, where, f"--config {cpath} comes from no ConfigMap"):
                continue
            cfg = os.path.join(tmp, f"{wname}-{c['name']}.yaml")
            open(cfg, "w", encoding="utf-8").write(data)
            mounts = k8s_mounts(c, spec, cms, tmp)
            resolve = pc.resolver(mounts, image, tmp)
            writable = not c.get("securityContext", {}).get("readOnlyRootFilesystem", False)
            env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
            ordinals = [None]
            if w["kind"] == "StatefulSet":
                ordinals = list(range(w["spec"]["replicas"]))
            for o in ordinals:
                penv = dict(env)
                hostname = f"{wname}-{o}" if o is not None else wname
                if script:
                    penv.update(shell_env(script, daemon, hostname))
                pwhere = where + (f" (pod {hostname})" if o is not None else "")
                eff = effective(binary_dir, daemon, cfg, penv, pwhere, resolve)
                if eff is None:
                    continue
                check_env(pwhere, daemon, eff, penv)
                check_binds(pwhere, eff, section)
                pc.check_files(ok, pwhere, eff, mounts, image, resolve, writable)
                check_material(pwhere, eff, section, daemon, resolve)
                # Every Secret the pod mounts (its init container's copies included).
                check_own_keys(pwhere, sc.identity_of(eff, daemon), True, [
                    f for f in (material.secret_folder(v["secret"]["secretName"],
                                                       v["secret"].get("items"))
                                for v in spec.get("volumes", []) if "secret" in v) if f])
                pc.check_rules(ok, pwhere, eff, resolve)
                if starts:
                    args = cmd[1:cmd.index("--config")] + cmd[cmd.index("--config") + 2:]
                    starts.add(pwhere, daemon, section, cfg, penv, args, eff, resolve)
                node_id = eff[section].get("node_id")
                ports = daemon_ports(eff, section, node_id)
                listen.setdefault(wname, set()).update(ports)
                configs.setdefault(wname, []).append((eff, section, c, pwhere, hostname))
                resolvers[pwhere] = resolve
                rest = eff[section]["rest_port"]
                ok(port_number(c, "http") == rest, pwhere,
                   f"container port 'http' is {port_number(c, 'http')}, REST is on {rest}")
                for p in c.get("ports", []):
                    ok(p["containerPort"] in ports, pwhere, f"containerPort {p['containerPort']} "
                       f"({p.get('name')}) is not one {daemon} listens on ({sorted(ports)})")
                scheme = "HTTPS" if tls_required(eff) else "HTTP"
                for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
                    pr = c.get(probe, {}).get("httpGet")
                    if ok(pr is not None, pwhere, f"no {probe} httpGet"):
                        ok(pr["path"] == path, pwhere, f"{probe} path {pr['path']}, want {path}")
                        ok(pr.get("scheme", "HTTP") == scheme, pwhere, f"{probe} scheme "
                           f"{pr.get('scheme', 'HTTP')}, the daemon serves {scheme} "
                           f"(security.tls {eff.get('security', {}).get('tls')})")
                        ok(port_number(c, pr["port"]) == rest, pwhere,
                           f"{probe} port {pr['port']} is not the REST port {rest}")
                res = c.get("resources", {})
                ok(res.get("requests") and res.get("limits"), pwhere, "no resource requests/limits")

    # Services: selectors match pods, target ports exist.
    svc_targets = {}  # service name -> {service port: set of pod container ports}
    for s in services:
        sname = s["metadata"]["name"]
        where = f"{label} Service/{sname}"
        sel = s["spec"].get("selector", {})
        matched = [(w, spec) for w, labels, spec in pods if selects(sel, labels, w)]
        if not ok(matched, where, f"selector {sel} matches no pod template"):
            continue
        for sp in s["spec"]["ports"]:
            tp = sp.get("targetPort", sp["port"])
            nums = set()
            for w, spec in matched:
                for c in spec["containers"]:
                    n = port_number(c, tp)
                    if n is not None:
                        nums.add((w["metadata"]["name"], n))
            ok(nums, where, f"targetPort {tp!r} is no container port of the selected pods")
            for wname, n in nums:
                ok(n in listen.get(wname, set()), where,
                   f"port {sp['port']} -> {wname}:{n}, where the daemon does not listen")
            svc_targets.setdefault(sname, {})[sp["port"]] = nums

    def service_host(host):
        short = host.split(".")[0]
        return short if short in svc_targets else None

    # The health rollup probes every daemon pod (producers run one per node: not probed)
    # through a Service that is not headless, at its REST port.
    expected = {}
    for wname, entries in configs.items():
        w, labels = next((w, lb) for w, lb, _ in pods if w["metadata"]["name"] == wname)
        if w["kind"] == "DaemonSet":
            continue
        for eff, section, c, where, hostname in entries:
            rest = eff[section]["rest_port"]
            urls = set()
            for s in services:
                if s["spec"].get("clusterIP") == "None" or \
                        not pod_selected(s["spec"].get("selector", {}), labels, w, hostname):
                    continue
                for sp in s["spec"]["ports"]:
                    if port_number(c, sp.get("targetPort", sp["port"])) == rest:
                        urls.add(f"{s['metadata']['name']}:{sp['port']}")
            expected[hostname] = urls
            if section == "stream_analytics":
                expected[hostname] |= {f"127.0.0.1:{rest}", f"localhost:{rest}"}
    for wname, entries in configs.items():
        for eff, section, c, where, hostname in entries:
            if section == "stream_analytics":
                pc.check_rollup(ok, where, eff, expected)
                # Every pod mounts the same material: the certificate this pod sees is theirs.
                hosts = set(re.findall(r"=https://([^:/,]+)", eff.get("monitoring", {})
                                       .get("services", "")))
                check_cert_names(where, eff, resolvers[where], hosts, "its health rollup")
            if section == "distributed_coordination":
                check_cert_names(where, eff, resolvers[where], {m["host"] for m in members(eff)},
                                 "its members (REST forwarding)")

    # Producers' resends fall inside propagation's dedup window.
    producers = [(e[3], e[0]) for entries in configs.values() for e in entries
                 if e[1] in pc.PRODUCERS]
    for entries in configs.values():
        for eff, section, c, where, hostname in entries:
            if section == "event_propagation":
                pc.check_resend_dedup(ok, where, eff, producers)

    # Every ZeroMQ boundary routing binds has a reader among the pods.
    conns = [(host, port) for entries in configs.values() for eff, section, _, _, _ in entries
             for _, host, port in endpoints(eff, section)[1]]
    for wname, entries in configs.items():
        for eff, section, c, where, hostname in entries:
            if section != "event_routing":
                continue
            mine = {s for s, ports in svc_targets.items()
                    for nums in ports.values() for w, _ in nums if w == wname}
            for boundary, port in pc.zmq_outputs(eff[section]):
                ok(any(service_host(h) in mine and p == port for h, p in conns), where,
                   f"boundary {boundary!r} (port {port}) has no reader among the pods")

    # Connections and peers.
    for wname, entries in configs.items():
        for eff, section, c, where, hostname in entries:
            for key, host, port in endpoints(eff, section)[1]:
                sname = service_host(host)
                if ok(sname is not None, where, f"{section}.{key} connects to {host!r}, which is "
                      f"no Service"):
                    ok(port in svc_targets[sname], where, f"{section}.{key} connects to "
                       f"{host}:{port}; Service {sname} has ports {sorted(svc_targets[sname])}")
            for host, port in kafka_brokers(eff, section):
                ok(host and port > 0, where, f"kafka_brokers entry {host}:{port}")
            if section == "distributed_coordination":
                dc = eff[section]
                ms = members(eff)
                w = next(w for w, _, _ in pods if w["metadata"]["name"] == wname)
                ok(w["kind"] == "StatefulSet" and len(ms) == dc["cluster_size"] ==
                   w["spec"]["replicas"], where, f"{len(ms)} members, cluster_size "
                   f"{dc['cluster_size']}, {w['spec'].get('replicas')} replicas")
                for m in ms:
                    sname = service_host(m["host"])
                    if not ok(sname is not None, where, f"member {m['host']} is no Service"):
                        continue
                    pods_of = {n for p in svc_targets[sname].values() for n in p}
                    ok(any(n == m["raft"] for _, n in svc_targets[sname].get(m["raft"], set())),
                       where, f"member {m['host']}: Service has no raft port {m['raft']}")
                    ok(m["rest"] == 0 or m["rest"] in svc_targets[sname], where,
                       f"member {m['host']}: Service has no REST port {m['rest']}")
                    ok(pods_of, where, f"member {m['host']}: Service selects no pod")
                    s = next(s for s in services if s["metadata"]["name"] == sname)
                    ok(s["spec"].get("publishNotReadyAddresses") is True, where,
                       f"Service {sname} must publish not-ready pods (raft runs before /ready)")
                    pod = s["spec"]["selector"].get("statefulset.kubernetes.io/pod-name")
                    if ok(pod is not None, where, f"Service {sname} selects more than one pod"):
                        ok(m["id"] == int(pod.rsplit("-", 1)[1]) + 1 if pod.startswith(wname)
                           else False, where, f"member {m['id']}@{m['host']} selects pod {pod}, "
                           f"whose node_id is ordinal+1")
                mine = [m for m in ms if m["id"] == dc["node_id"]]
                ok(mine and service_host(mine[0]["host"]) == hostname, where,
                   f"pod {hostname} runs node_id {dc['node_id']}, member "
                   f"{mine[0]['host'] if mine else None}")
                ok(dc.get("raft_bind") in ANY_ADDR, where,
                   "members are Service addresses: raft_bind must be 0.0.0.0")

    # StatefulSet serviceName, HPA and PDB targets, ConfigMap references.
    for w, labels, spec in pods:
        where = f"{label} {w['kind']}/{w['metadata']['name']}"
        ok(selects(w["spec"]["selector"]["matchLabels"], labels, w), where,
           "selector does not match its own pod template")
        if w["kind"] == "StatefulSet":
            hs = [s for s in services if s["metadata"]["name"] == w["spec"]["serviceName"]]
            ok(hs and hs[0]["spec"].get("clusterIP") == "None", where,
               f"serviceName {w['spec']['serviceName']} is no headless Service")
    analytics = [w for w, _, _ in pods if w["kind"] == "Deployment" and
                 any(container_daemon(c)[0] == "vexfs-analytics"
                     for c in w["spec"]["template"]["spec"]["containers"])]
    ok(len(analytics) == 1, label, "exactly one analytics Deployment expected")
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    ok(hpas, label, "no HorizontalPodAutoscaler")
    for h in hpas:
        ref = h["spec"]["scaleTargetRef"]
        ok(analytics and ref["kind"] == "Deployment" and
           ref["name"] == analytics[0]["metadata"]["name"], f"{label} HPA/{h['metadata']['name']}",
           f"targets {ref['kind']}/{ref['name']}, not the analytics Deployment")
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for p in pdbs:
        sel = p["spec"]["selector"]["matchLabels"]
        hit = [w["metadata"]["name"] for w, labels, _ in pods if selects(sel, labels, w)]
        ok(len(hit) == 1, f"{label} PDB/{p['metadata']['name']}",
           f"selects the pods of {hit}, want exactly one workload")
    ok(any(analytics and selects(p["spec"]["selector"]["matchLabels"],
                                 analytics[0]["spec"]["template"]["metadata"]["labels"],
                                 analytics[0]) for p in pdbs), label,
       "no PodDisruptionBudget selects the analytics pods")
    ok(any(d["kind"] == "Namespace" and d["metadata"]["name"] == "vexfs" for d in docs), label,
       "no Namespace vexfs")
    for d in docs:
        if d["kind"] != "Namespace":
            ok(d["metadata"].get("namespace") == "vexfs", label,
               f"{d['kind']}/{d['metadata']['name']} is not in namespace vexfs")
    ok(any(d["kind"] == "DaemonSet" for d in docs), label, "no producer DaemonSet")


def check_host_profiles(binary_dir):
    """config/*.yaml other than the compose profile, as a host runs them: every daemon whose
    section the profile has is started with it (producers on a temporary folder)."""
    for rel, path in pc.host_profiles():
        doc = yaml.safe_load(open(path, encoding="utf-8")) or {}
        effs = {}
        for daemon, section in DAEMONS.items():
            if section not in doc:
                continue
            where = f"{rel} {daemon}"
            # The admin token is the operator's secret: a stand-in where the profile names one.
            env = {}
            if (doc.get("admin") or {}).get("token_file"):
                tok = os.path.join(tempfile.mkdtemp(prefix="vexfs-xcheck-"), "token")
                with open(tok, "w", encoding="utf-8") as f:
                    f.write("cross-check-token\n")
                env["VEXFS_ADMIN_TOKEN_FILE"] = tok
            # The security material where `scripts/deploy-secrets.sh /etc/vexfs` puts it.
            resolve = material.host_resolver(lambda p: p if os.path.exists(p) else None)
            eff = effective(binary_dir, daemon, path, env, where, resolve)
            if eff is None:
                continue
            effs[section] = eff
            check_material(where, eff, section, daemon, resolve)
            scheme = "https" if tls_required(eff) else "http"
            for item in filter(None, eff.get("monitoring", {}).get("services", "").split(",")):
                ok(item.partition("=")[2].strip().startswith(scheme + "://"), where,
                   f"monitoring.services {item}: the daemons serve {scheme}")
            pc.check_rules(ok, where, eff, resolve)
            if starts:
                args = {"vexfs-watch": ["/srv/vexfs"], "vexfs-fuse": ["/source", "/mnt"]}
                starts.add(where, daemon, section, path, env, args.get(daemon, []), eff, resolve)
        if "event_propagation" in effs:
            pc.check_resend_dedup(ok, rel, effs["event_propagation"],
                                  [(s, e) for s, e in effs.items() if s in pc.PRODUCERS])


def main():
    global starts
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--no-start", action="store_true",
                    help="skip the real starts of every daemon with every profile")
    ap.add_argument("--verbose", action="store_true", help="print each real start's overrides")
    ap.add_argument("--k8s-render", nargs="*", default=None,
                    help="rendered k8s/ and k8s/overlays/kernel-module, in that order")
    ap.add_argument("--render-out", help="write this script's own rendering of k8s/ and "
                    "k8s/overlays/kernel-module into DIR (k8s.yaml, kernel-module.yaml) and exit")
    a = ap.parse_args()
    if a.render_out:
        for name, path in (("k8s.yaml", "k8s"), ("kernel-module.yaml", "k8s/overlays/kernel-module")):
            docs = kustomize(os.path.join(ROOT, path), set())
            with open(os.path.join(a.render_out, name), "w", encoding="utf-8") as f:
                yaml.safe_dump_all(docs, f, sort_keys=False)
        return 0

    if not a.no_start:
        kafka = os.environ.get("VEXFS_KAFKA_BOOTSTRAP")
        if not kafka:
            print("cross_check: the real starts need a Kafka broker: set VEXFS_KAFKA_BOOTSTRAP "
                  "(scripts/kafka.sh start) or pass --no-start")
            return 2
        starts = pc.Starts(a.bin, kafka, a.verbose)
    global material
    material = sc.Material(a.bin, tempfile.mkdtemp(prefix="vexfs-xcheck-secrets-"))
    check_dockerfile(a.bin)
    jobs = check_compose(a.bin)
    check_monitoring(jobs)

    # Every manifest is part of some kustomization.
    seen = set()
    entries = {"k8s": os.path.join(ROOT, "k8s"),
               "k8s/overlays/kernel-module": os.path.join(ROOT, "k8s", "overlays", "kernel-module")}
    own = {name: kustomize(path, seen) for name, path in entries.items()}
    for f in glob.glob(os.path.join(ROOT, "k8s", "**", "*.yaml"), recursive=True):
        ok(os.path.normpath(f) in seen, "k8s", f"{os.path.relpath(f, ROOT)} is in no kustomization "
           f"reachable from k8s/ or k8s/overlays/kernel-module")
    if a.k8s_render:
        rendered = {}
        for name, path in zip(entries, a.k8s_render):
            rendered[name] = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
    else:
        rendered = own
    for name, docs in rendered.items():
        check_k8s(a.bin, docs, name)
        for problem in sorted(set(sc.init_problems)):
            fail(name, problem)
        sc.init_problems.clear()
    check_host_profiles(a.bin)
    n_starts = starts.run(ok) if starts else 0

    if failures:
        for f in failures:
            print(f"MISMATCH {f}")
        print(f"cross_check: {len(failures)} mismatches in {checks} checks")
        return 1
    print(f"cross_check: {checks} checks ({n_starts} real starts), docker/, k8s/ and config/ "
          f"match what the daemons read and export")
    return 0


if __name__ == "__main__":
    sys.exit(main())
