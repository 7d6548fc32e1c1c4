# SPDX-License-Identifier: Apache-2.0
"""What tests/deploy/cross_check.py checks in one daemon's profile as a deployment gives it:

  files    every file a configuration key names (rules, patterns, workflows, queries, alert
           rules, the admin token) exists where the container will look: in a folder mounted
           from the repository, in a ConfigMap key, or in the image (docker/Dockerfile's COPY
           lines); every data folder (*_dir) is on a volume, or in the image, owned by the
           service user, on a writable root file system
  rules    every boundary the profile's rule set names (target_boundaries, default_boundary)
           is one the profile defines (output_<boundary>, outputs, Kafka boundaries)
  rollup   the health rollup (monitoring.services, read by analytics) names every daemon of
           the deployment at its REST port
  starts   the daemon starts for real with the profile (start_check.py) — collected here and
           run together at the end, in parallel
"""
import collections
import concurrent.futures
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile

import yaml

import secrets_check as sc
import start_check

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILTIN_BOUNDARIES = ["coordinator", "automation", "analytics", "graph", "vector"]

# A mount of a container: kind is bind (source: host path), configmap (source: its data),
# secret (source: a host folder as the kubelet fills it from the documented Secret, None when
# there is no such Secret), filled (an emptyDir an init container fills; source: a host folder
# with what it copies), named (a compose named volume: starts as a copy of the image's
# folder), volume (a Kubernetes PVC, emptyDir or hostPath, or a tmpfs: empty or the node's).
Mount = collections.namedtuple("Mount", "kind target source read_only")


class Image:
    """What docker/Dockerfile's last stage puts in the image, read from its lines: COPY from
    the build context (not --from), folders made with mkdir -p, and those chown'ed to the
    service user."""

    def __init__(self, dockerfile):
        text = open(dockerfile, encoding="utf-8").read().replace("\\\n", " ")
        last = text.rsplit("\nFROM ", 1)[-1]
        self.copies = []  # (repo path, image path)
        for src, dst in re.findall(r"^COPY (?!--from)(\S+) (\S+)\s*$", last, re.M):
            self.copies.append((os.path.join(ROOT, src.rstrip("/")), dst.rstrip("/")))
        self.dirs, self.owned = set(), set()
        for run in re.findall(r"^RUN (.*)$", last, re.M):
            for cmd in run.split("&&"):
                words = cmd.split()
                if words[:2] == ["mkdir", "-p"]:
                    self.dirs |= {w.rstrip("/") for w in words[2:]}
                if words[:2] == ["chown", "-R"]:
                    self.owned |= {w.rstrip("/") for w in words[3:]}

    def file(self, path):
        for src, dst in self.copies:
            if path == dst and os.path.isfile(src):
                return src
            if path.startswith(dst + "/") and os.path.isdir(src):
                host = os.path.join(src, path[len(dst) + 1:])
                if os.path.exists(host):
                    return host
        return None

    def has_dir(self, path):
        return path.rstrip("/") in self.dirs

    def user_owned(self, path):
        return any(path == o or path.startswith(o + "/") for o in self.owned)


def _mount_of(mounts, path):
    best = None
    for m in mounts:
        t = m.target.rstrip("/")
        if (path == t or path.startswith(t + "/")) and (best is None or len(t) > len(best.target)):
            best = m
    return best


def resolver(mounts, image, tmp):
    """container path -> host path of the file the container sees there, or None."""
    def resolve(path):
        m = _mount_of(mounts, path)
        if m is None:
            return image.file(path)
        rest = path[len(m.target.rstrip("/")) + 1:]
        if m.kind in ("bind", "secret", "filled") and m.source:
            host = os.path.join(m.source, rest) if rest else m.source
            return host if os.path.exists(host) else None
        if m.kind == "configmap" and rest in (m.source or {}):
            host = os.path.join(tmp, "configmap-" + hashlib.sha1(path.encode()).hexdigest()[:12])
            with open(host, "w", encoding="utf-8") as f:
                f.write(m.source[rest])
            return host
        return None
    return resolve


# Folders a daemon only reads (besides the secret ones): they must exist, on any mount.
READ_ONLY_DIRS = {("reactive_automation", "scripts_dir")}


def check_files(ok, where, eff, mounts, image, resolve, writable_root):
    """Every named file exists for the container; every data folder is usable."""
    for sec, keys in eff.items():
        for key, val in keys.items():
            if not isinstance(val, str) or not val.startswith("/"):
                continue
            name = f"{sec}.{key} = {val}"
            if (sec, key) in sc.READ_DIRS or (sec, key) in READ_ONLY_DIRS:
                m = _mount_of(mounts, val)
                host = resolve(val)
                ok(host is not None and os.path.isdir(host), where,
                   f"{name}: no such folder in " + (f"the {m.kind} mounted at {m.target}"
                                                    if m else "the image"))
            elif key.endswith("_dir"):
                m = _mount_of(mounts, val)
                if m is not None and m.kind == "named":
                    # A new named volume takes the content and owner of the image's folder.
                    ok(image.has_dir(m.target) and image.user_owned(m.target), where,
                       f"{name}: the volume at {m.target} is not a folder of the image owned by "
                       f"the service user (it would start owned by root)")
                elif m is not None and m.kind == "volume":
                    pass  # a Kubernetes volume: its owner is the pod's fsGroup
                elif m is not None:
                    ok(m.kind == "bind" and not m.read_only, where,
                       f"{name}: on a {m.kind} mount{' (read-only)' if m.read_only else ''}")
                else:
                    ok(writable_root and image.has_dir(val) and image.user_owned(val), where,
                       f"{name}: not on a volume, and " + ("the root file system is read-only"
                                                           if not writable_root else
                                                           "not a folder of the image owned by "
                                                           "the service user"))
            elif key.endswith("_file") or key.endswith("_path"):
                m = _mount_of(mounts, val)
                ok(resolve(val) is not None, where,
                   f"{name}: no such file in " + (f"the {m.kind} mounted at {m.target}"
                                                  if m else "the image"))


def defined_boundaries(conf):
    """Boundaries a routing configuration defines."""
    out = {b for b in BUILTIN_BOUNDARIES if conf.get(f"output_{b}")}
    if conf.get("kafka_brokers"):
        out |= {b.strip() for b in conf.get("kafka_boundaries", "").split(",") if b.strip()}
    for item in filter(None, conf.get("outputs", "").split(";")):
        out.add(item.partition("=")[0].strip())
    return out


def zmq_outputs(conf):
    """(boundary, port) of every ZeroMQ output a routing configuration binds."""
    out = []
    pairs = [(b, conf.get(f"output_{b}", "")) for b in BUILTIN_BOUNDARIES]
    pairs += [tuple(x.split("=", 1)) for x in filter(None, conf.get("outputs", "").split(";"))]
    kafka = {b.strip() for b in conf.get("kafka_boundaries", "").split(",")} \
        if conf.get("kafka_brokers") else set()
    for b, eps in pairs:
        if b.strip() in kafka:
            continue
        for ep in filter(None, (e.strip() for e in eps.split(","))):
            m = re.fullmatch(r"[>@]?tcp://[^:/]+:(\d+)", ep)
            if m:
                out.append((b.strip(), int(m.group(1))))
    return out


def check_rules(ok, where, eff, resolve):
    """Every boundary the rule set names is defined in the profile."""
    conf = eff.get("event_routing")
    if not conf or not conf.get("rules_file"):
        return
    path = resolve(conf["rules_file"])
    if path is None:
        return  # reported by check_files
    doc = yaml.safe_load(open(path, encoding="utf-8")) or {}
    named = set()
    for i, r in enumerate(doc.get("rules", [])):
        named |= {(f"rules[{i}] ({r.get('id')})", b) for b in r.get("target_boundaries", [])}
    if conf.get("default_boundary"):
        named.add(("default_boundary", conf["default_boundary"]))
    have = defined_boundaries(conf)
    for what, b in sorted(named):
        ok(b in have, where, f"{conf['rules_file']}: {what} names boundary {b!r}, which this "
           f"profile does not define (defined: {sorted(have)})")


def check_rollup(ok, where, eff, expected):
    """monitoring.services names every daemon of the deployment: expected maps a daemon's
    name in the deployment to the URLs that reach it (name -> set of 'host:port')."""
    mon = eff.get("monitoring", {})
    listed = {}
    scheme = "https" if eff.get("security", {}).get("tls") == "required" else "http"
    for item in filter(None, (x.strip() for x in mon.get("services", "").split(","))):
        name, _, url = item.partition("=")
        ok(url.strip().startswith(scheme + "://"), where, f"monitoring.services {item}: the "
           f"daemons serve {scheme} (security.tls of this profile)")
        m = re.fullmatch(r"https?://([^:/]+):(\d+)/?", url.strip())
        host = m.group(1) if m and re.fullmatch(r"[\d.]+", m.group(1)) else \
            m.group(1).split(".")[0] if m else None  # a Service's FQDN: its first label
        listed[name.strip()] = f"{host}:{m.group(2)}" if m else url
    ok(listed, where, "monitoring.services is empty: vexfsctl health has nothing to report")
    reached = set(listed.values())
    for daemon, urls in sorted(expected.items()):
        ok(reached & urls, where, f"monitoring.services does not probe {daemon} "
           f"({' or '.join(sorted(urls))}); it lists {listed}")
    every = set().union(*expected.values()) if expected else set()
    for name, hp in listed.items():
        ok(hp in every, where, f"monitoring.services {name}={hp} is no daemon of this deployment")


PRODUCERS = ("event_forwarder", "userspace_watcher", "fuse_layer")


def check_resend_dedup(ok, where, prop_eff, producers):
    """A producer on the acknowledged link sends a batch again after ack_timeout_ms without an
    answer (Kafka slow to journal, propagation restarting); propagation removes the copy only
    while the original is inside its dedup window. So the window must outlast that timeout,
    or every resend is published twice. producers: [(name, eff)]."""
    pc_ = prop_eff.get("event_propagation", {})
    if not pc_.get("enable_deduplication"):
        return
    for name, eff in producers:
        for sec in PRODUCERS:
            conf = eff.get(sec)
            if conf and conf.get("ack_endpoint"):
                ok(pc_["dedup_window_ms"] > conf["ack_timeout_ms"], where,
                   f"event_propagation.dedup_window_ms {pc_['dedup_window_ms']} is not longer "
                   f"than {name}'s {sec}.ack_timeout_ms {conf['ack_timeout_ms']}: a batch it "
                   f"sends again is published twice")


# ---- real starts -------------------------------------------------------------------------

Start = collections.namedtuple("Start", "where daemon section cfg env args eff resolve")


class Starts:
    """Real starts collected while checking, run together (deduplicated, in parallel)."""

    def __init__(self, binary_dir, kafka, verbose=False):
        self.binary_dir, self.kafka, self.verbose = binary_dir, kafka, verbose
        self.jobs = []
        self.tmp = tempfile.mkdtemp(prefix="vexfs-xcheck-start-")

    def add(self, where, daemon, section, cfg, env, args, eff, resolve):
        self.jobs.append(Start(where, daemon, section, cfg, dict(env), list(args), eff, resolve))

    def _one(self, i, job):
        """One start; again with other ports when a port was taken by something else on the
        machine between choosing it and binding it."""
        for attempt in range(3):
            job_, problem = self._attempt(f"{i}.{attempt}", job)
            if not problem or "Address already in use" not in problem:
                break
        return job_, problem

    def _attempt(self, i, job):
        d = os.path.join(self.tmp, str(i))
        os.makedirs(d)
        env, problems = start_check.overrides(job.eff, job.section, job.resolve, d, self.kafka)
        if problems:
            return job, "; ".join(problems)
        full = dict(job.env)
        full.update(env)
        # Folders given as arguments (the watcher's tree, the FUSE source and mount point)
        # are this machine's temporary ones.
        args = [tempfile.mkdtemp(dir=d) if a.startswith("/") else a for a in job.args]
        if self.verbose:
            print(f"start {job.where}: {job.daemon} {' '.join(args)} with {env}")
        port = int(env[f"VEXFS_{job.section}_REST_PORT".upper()])
        exe = os.path.join(self.binary_dir, job.daemon)
        ca = None
        if job.eff.get("security", {}).get("tls") == "required":
            ca = os.path.join(env["VEXFS_SECURITY_TLS_DIR"], "ca.crt")
        return job, start_check.start(exe, args, job.cfg, full, port,
                                      os.path.join(d, "daemon.log"), ca)

    def run(self, ok):
        seen, unique = {}, []
        for job in self.jobs:
            key = (job.daemon, open(job.cfg, encoding="utf-8").read(),
                   json.dumps(sorted(job.env.items())), json.dumps(job.args))
            if key not in seen:
                seen[key] = job
                unique.append(job)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for job, problem in pool.map(lambda x: self._one(*x), enumerate(unique)):
                ok(problem is None, job.where, f"{job.daemon} does not start for real with this "
                   f"profile: {problem}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return len(unique)


def host_profiles():
    """The host profiles of config/ other than the container ones: (name, path)."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "config", "*.yaml"))):
        if os.path.basename(path) != "docker.yaml":
            out.append((os.path.relpath(path, ROOT), path))
    return out
