# SPDX-License-Identifier: Apache-2.0
"""The tools of tests/deploy/compose_test.py: the compose project and its containers (through
the docker-compose and docker command-line programs, as a user drives them), HTTP against the
containers' addresses, polling against a deadline, and the timed steps of the test's output."""
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request


class Failure(Exception):
    """A check that did not hold: what was expected and what was seen."""


def check(cond, what, expected, actual):
    if not cond:
        raise Failure(f"{what}: expected {expected}, got {actual}")


class Clock:
    """Prints each step with the time since the start and how long the previous one took."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.last = self.t0
        self.durations = []

    def step(self, text):
        now = time.monotonic()
        print(f"\n== [{now - self.t0:7.1f} s] {text}", flush=True)
        self.last = now

    def note(self, text):
        print(f"   [{time.monotonic() - self.t0:7.1f} s] {text}", flush=True)


def poll(fn, timeout, what, interval=0.25):
    """Calls fn until it returns something true or timeout seconds pass; returns that value.
    fn may return (False, why) to say what it saw. On the deadline raises Failure with what and
    the last value (or exception) seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if isinstance(last, tuple) and len(last) == 2 and last[0] is False:
                last = last[1]  # not yet, and why
            elif last:
                return last
        except (OSError, ValueError, KeyError, subprocess.SubprocessError, Failure) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise Failure(f"{what}: not within {timeout} s (last seen: {str(last)[:600]})")
        time.sleep(interval)


_tls = None  # ssl context of https URLs (use_ca)
_token = None  # bearer token of https requests that name none


def use_ca(ca_file, token):
    """https URLs trust the deployment's CA and carry `token` unless a request names its own
    (reads need a credential too). Containers are reached by their addresses, which its
    server certificate does not name: the chain is verified, the name is not (the
    cross-check verifies the names clients use)."""
    global _tls, _token
    _tls = ssl.create_default_context(cafile=ca_file)
    _tls.check_hostname = False
    _token = token


def http(method, url, body=None, token=None, timeout=10):
    """One request. Returns (status, parsed JSON or text). A refused or timed-out connection
    raises OSError."""
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token or (_token and url.startswith("https:")):
        headers["Authorization"] = f"Bearer {token or _token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout,
                                    context=_tls if url.startswith("https:") else None) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def metric_sum(text, name, labels=None):
    """Sum of the samples of metric `name` whose labels include `labels` (a dict)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name):]
        if rest and rest[0] not in "{ ":
            continue
        if labels:
            lab = rest[1:rest.index("}")] if rest.startswith("{") else ""
            have = dict(p.split("=", 1) for p in lab.split(",") if "=" in p)
            if any(have.get(k) != f'"{v}"' for k, v in labels.items()):
                continue
        try:
            total += float(line.rsplit(" ", 1)[1])
        except ValueError:
            pass
    return total


class Project:
    """One compose project: docker-compose with this project name, file and environment."""

    def __init__(self, root, name, env, compose_cmd=None, docker="/usr/bin/docker"):
        self.root = root
        self.name = name
        self.file = os.path.join(root, "docker", "docker-compose.yml")
        self.env = dict(os.environ, **env)
        self.compose_cmd = compose_cmd or ["docker-compose"]
        self.docker_cmd = [docker]
        self.network = f"{name}_vexfs"

    def _run(self, argv, check_rc=True, timeout=600, input_text=None):
        """Runs a command; with check_rc a non-zero exit is a Failure, else the caller
        looks at the result."""
        r = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout,
                           input=input_text)
        if check_rc and r.returncode != 0:
            raise Failure(f"{' '.join(argv)} exited {r.returncode}: "
                          f"{(r.stderr or r.stdout).strip()[-2000:]}")
        return r

    def compose(self, *args, check_rc=True, timeout=900, input_text=None, stream=False):
        argv = self.compose_cmd + ["-p", self.name, "-f", self.file] + list(args)
        if stream:  # long builds: their output goes to the log as it comes
            r = subprocess.run(argv, env=self.env, timeout=timeout)
            if check_rc and r.returncode != 0:
                raise Failure(f"{' '.join(argv)} exited {r.returncode}")
            return r
        return self._run(argv, check_rc, timeout, input_text)

    def docker(self, *args, check_rc=True, timeout=120, input_text=None):
        return self._run(self.docker_cmd + list(args), check_rc, timeout, input_text)

    def exec(self, service, *cmd, check_rc=True, input_text=None, timeout=120):
        """Runs cmd in the (first) running container of service, without a terminal, as
        `docker-compose exec -T` does (through docker itself: no Python start-up per call)."""
        cids = self.containers(service, all_states=False)
        if not cids:
            raise Failure(f"service {service}: no running container")
        return self.docker("exec", "-i", cids[0], *cmd, check_rc=check_rc,
                           input_text=input_text if input_text is not None else "",
                           timeout=timeout)

    def containers(self, service=None, all_states=True):
        """Container ids of this project (of one service), oldest first."""
        args = ["ps", "-q", "--filter", f"label=com.docker.compose.project={self.name}"]
        if all_states:
            args.insert(1, "-a")
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        ids = self.docker(*args).stdout.split()
        return list(reversed(ids))

    def inspect(self, cid):
        return json.loads(self.docker("inspect", cid).stdout)[0]

    def service_of(self, info):
        return info["Config"]["Labels"].get("com.docker.compose.service")

    def ip(self, cid):
        nets = self.inspect(cid)["NetworkSettings"]["Networks"]
        return nets[self.network]["IPAddress"] if self.network in nets else None

    def url(self, service, port, index=0, scheme="https"):
        cids = self.containers(service, all_states=False)
        if len(cids) <= index:
            raise Failure(f"service {service}: no running container #{index + 1}")
        return f"{scheme}://{self.ip(cids[index])}:{port}"

    def health(self, cid):
        """'healthy', 'starting', 'unhealthy', or the state when it has no health check."""
        st = self.inspect(cid)["State"]
        if st.get("Health"):
            return st["Health"]["Status"] if st["Status"] == "running" else st["Status"]
        return st["Status"]

    def logs(self, service, tail=40):
        return self.compose("logs", "--no-color", f"--tail={tail}", service,
                            check_rc=False).stdout


def log_failure_context(project, services):
    """What a reader needs when a step fails: ps, and the last lines of each service's log."""
    try:
        print(project.compose("ps", check_rc=False).stdout, file=sys.stderr)
        for s in services:
            print(f"---- last log lines of {s}", file=sys.stderr)
            print(project.logs(s, 25), file=sys.stderr)
    except (OSError, subprocess.SubprocessError, Failure) as e:
        print(f"(could not collect the containers' state: {e})", file=sys.stderr)
