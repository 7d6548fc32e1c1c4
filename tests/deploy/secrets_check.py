# SPDX-License-Identifier: Apache-2.0
"""The security material of tests/deploy/cross_check.py: what a deployment gives the daemons
(CURVE keys, TLS certificates, the credentials file), made here by the documented step
(scripts/deploy-secrets.sh) and handed to the daemons the cross-check runs only through the
place the deployment puts it: the compose file's secrets folder (VEXFS_SECRETS_DIR), the
Kubernetes Secrets of the manifest the script writes (copied by each pod's init container),
or /etc/vexfs for the host profiles (scripts/deploy-secrets.sh /etc/vexfs).

A daemon refuses even --check without its credentials file, so the security paths a profile
names are worked out here first (the container's environment, else the file, else the
daemon's default from --help), each is looked up in the image or the container's mounts, and
only a path found there is given to the daemon, as the host file that mount provides.
"""
import base64
import glob
import os
import re
import shutil
import subprocess

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Keys of the security, at_rest and kafka_security sections that name material the daemon
# only reads.
READ_FILES = {("security", "credentials_file"), ("security", "audit_key_file")} | {
    ("kafka_security", k) for k in ("sasl_password_file", "ssl_ca_file", "ssl_certificate_file",
                                    "ssl_key_file", "ssl_key_password_file", "ssl_keystore_file",
                                    "ssl_keystore_password_file")}
READ_DIRS = {("security", "keys_dir"), ("security", "tls_dir"), ("at_rest", "data_keys_dir")}
SECTIONS = ("security", "at_rest", "kafka_security")


class Material:
    """scripts/deploy-secrets.sh DIR --k8s-manifest FILE, run once in tmp."""

    def __init__(self, binary_dir, tmp):
        self.dir = os.path.join(tmp, "secrets")
        self.manifest = os.path.join(tmp, "k8s-secrets.yaml")
        env = dict(os.environ, VEXFSCTL=os.path.join(binary_dir, "vexfsctl"))
        r = subprocess.run([os.path.join(ROOT, "scripts", "deploy-secrets.sh"), self.dir,
                            "--k8s-manifest", self.manifest], env=env, capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError(f"scripts/deploy-secrets.sh failed: {r.stderr.strip()}")
        self.secrets = {}
        for d in yaml.safe_load_all(open(self.manifest, encoding="utf-8")):
            if d and d.get("kind") == "Secret":
                self.secrets[d["metadata"]["name"]] = {
                    k: base64.b64decode(v) for k, v in (d.get("data") or {}).items()}
        self.tmp = tmp
        self.made = 0

    def secret_folder(self, name, items=None):
        """A folder as the kubelet fills a secret volume of Secret `name` (items: key -> path
        list), or None when the documented manifest has no such Secret or key."""
        data = self.secrets.get(name)
        if data is None:
            return None
        self.made += 1
        folder = os.path.join(self.tmp, f"secret-{name}-{self.made}")
        os.makedirs(folder)
        pairs = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
        for key, path in pairs:
            if key not in data:
                return None
            dst = os.path.join(folder, path)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(data[key])
            os.chmod(dst, 0o600)
        return folder

    def host_resolver(self, fallback):
        """For host profiles: /etc/vexfs as `scripts/deploy-secrets.sh /etc/vexfs` leaves it;
        other paths through fallback."""
        def resolve(path):
            if path.startswith("/etc/vexfs/"):
                host = os.path.join(self.dir, path[len("/etc/vexfs/"):])
                if os.path.exists(host):
                    return host
            return fallback(path)
        return resolve


_defaults = {}


def defaults(exe):
    """{(section, key): default} of the SECTIONS, from exe --help."""
    if exe not in _defaults:
        out = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
        d, sec = {}, None
        for line in out.splitlines():
            m = re.fullmatch(r"\[(\w+)\]", line.strip())
            if m:
                sec = m.group(1)
                continue
            # secret: a file naming a secret (its value is masked in --print-config)
            m = re.fullmatch(r"  (\w+)\s+(?:string|secret)\s+default (.*?)(?: \(reloadable\))?",
                             line)
            if m and sec in SECTIONS:
                d[(sec, m.group(1))] = "" if m.group(2) == '""' else m.group(2)
        _defaults[exe] = d
    return _defaults[exe]


def container_values(exe, cfg_path, env):
    """{(section, key): value} the daemon reads for the material keys: the environment, else
    the file, else the default."""
    doc = yaml.safe_load(open(cfg_path, encoding="utf-8")) or {}
    out = {}
    for (sec, key), dflt in defaults(exe).items():
        if (sec, key) not in READ_FILES | READ_DIRS:
            continue
        val = env.get(f"VEXFS_{sec}_{key}".upper())
        if val is None:
            val = (doc.get(sec) or {}).get(key, dflt)
        out[(sec, key)] = "" if val is None else str(val)
    return out


def run_overrides(exe, cfg_path, env, resolve):
    """(env, values, problems): the VEXFS_* variables that give the daemon, on this machine,
    the material the deployment provides at each path it reads; values: those paths."""
    values = container_values(exe, cfg_path, env)
    over, problems = {}, []
    for (sec, key), val in sorted(values.items()):
        if not val:
            continue
        host = resolve(val)
        is_dir = (sec, key) in READ_DIRS
        if host is None or not (os.path.isdir(host) if is_dir else os.path.isfile(host)):
            problems.append(f"{sec}.{key} = {val}: no such {'folder' if is_dir else 'file'} in "
                            f"the image or a mount")
        else:
            over[f"VEXFS_{sec}_{key}".upper()] = host
    return over, values, problems


# What init_filled found wrong in the init containers' scripts (reported by the cross-check).
init_problems = []


def init_filled(volume, spec, resolver_of, folder):
    """Fills `folder` with what an init container of the pod spec copies into its emptyDir
    `volume`; returns whether one does. Reads the init container's shell script:
    `mkdir -p DIR...` and `cp -L SRC... DST` lines, SRC globs in the init container's own
    mounts (resolver_of(init container) gives its path -> host path); other lines (umask) are
    left alone."""
    for ic in spec.get("initContainers", []) or []:
        vm = next((m for m in ic.get("volumeMounts", []) if m["name"] == volume
                   and not m.get("readOnly")), None)
        cmd = (ic.get("command") or []) + (ic.get("args") or [])
        if vm is None or len(cmd) < 3 or cmd[0] not in ("/bin/sh", "sh"):
            continue
        base = vm["mountPath"].rstrip("/")
        resolve = resolver_of(ic)

        def inside(path):
            if path == base or path.startswith(base + "/"):
                return os.path.join(folder, path[len(base) + 1:])
            return None
        for line in cmd[-1].splitlines():
            words = line.split()
            if words[:2] == ["mkdir", "-p"]:
                for w in words[2:]:
                    if inside(w):
                        os.makedirs(inside(w), exist_ok=True)
            elif words[:1] == ["cp"] and not (words[:2] == ["cp", "-L"] and len(words) >= 4
                                               and inside(words[-1])):
                # The script runs under -e: a copy that cannot work stops the pod.
                init_problems.append(f"init container {ic.get('name')}: {line.strip()!r} is not "
                                     f"`cp -L SRC... DST` with DST inside {base}")
            elif words[:2] == ["cp", "-L"] and len(words) >= 4 and inside(words[-1]):
                dst = inside(words[-1])
                for src in words[2:-1]:
                    d, pat = os.path.split(src)
                    host = resolve(d)
                    found = sorted(p for p in glob.glob(os.path.join(host, pat))
                                   if os.path.isfile(p)) if host else []
                    if not found:
                        init_problems.append(f"init container {ic.get('name')}: {src} matches "
                                             f"no file of its mounts (cp fails under -e)")
                    for h in found:
                        target = os.path.join(dst, os.path.basename(h)) \
                            if os.path.isdir(dst) else dst
                        shutil.copyfile(h, target)
                        os.chmod(target, 0o600)
        return True
    return False


# ---- each container holds its own identity's secret keys only ------------------------------

# Keys the daemons share by role, not by identity: the CURVE server pair of every bound
# socket, the REST servers' TLS key, the audit log's signing key.
SHARED_KEYS = {"server", "audit"}


def secret_keys(folder):
    """(name, path) of every secret in folder an identity holds: CURVE secret keys and TLS
    private keys (NAME.key: the identity NAME), other private material (*.pem, by file name)
    and the admin's bearer token (admin-token: admin). Data keys (data-N.key) seal what the
    daemons write and belong to no identity."""
    out = []
    for dirpath, _, files in os.walk(folder):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            if f == "admin-token":
                out.append(("admin", path))
            elif f.endswith(".key") and not re.fullmatch(r"data-\d+\.key", f):
                out.append((f[:-4], path))
            elif f.endswith(".pem"):
                out.append((f, path))
    return out


def foreign_keys(identity, serves, folders):
    """The secrets of folders (what one container is given) that are not identity's own:
    another identity's key, ca.key, the admin token, and, unless serves (a daemon or producer
    with a REST server or bound sockets), the shared server and audit keys."""
    bad = set()
    for folder in folders:
        for name, path in secret_keys(folder):
            if name == identity or (serves and name in SHARED_KEYS):
                continue
            bad.add(f"{name} ({os.path.relpath(path, folder)})")
    return sorted(bad)


def identity_of(eff, daemon):
    """The identity a daemon presents: security.identity, else its program name."""
    ident = (eff.get("security") or {}).get("identity") or ""
    return ident or daemon[len("vexfs-"):]
