#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs every shell example of README.md against a `make run`-style suite, so the README
cannot drift from the programs.

    tests/readme/run_examples.py [BUILD_DIR]      (default build; make check runs it)

It starts scripts/run-demo.sh in the background (VX_DEMO_SECONDS=0: until stopped) with a HOME
of its own (so the demo's context file is ~/.config/vexfs/context there, never the user's) and
on ports of its own (VX_DEMO_PORT_BASE: a free range, so it runs beside a `make run` on the
default ports). Then it takes every fenced ```sh, ```bash and ```console block of README.md in
order and runs each command (a line, with its backslash continuations; in console blocks the
lines after "$ ") in bash from the repository root, with BUILD_DIR/bin first on PATH and the
variables earlier commands set (a reader's shell session). Port numbers of the default layout
in a command (:8080 .. :8102, :5549 .. :5563) are moved to the demo's.

A command fails when it exits non-zero, when it runs longer than its timeout, or when it prints
a JSON error answer ({"error":{"code":...}}, which `curl -s` does not turn into an exit status).
A failure is reported with README.md's line, the command, its exit status and what it printed;
the exit status is then 1.

A block that cannot run here says so on its first line, visibly in the README:

    # skip-test: REASON

(root for fanotify or FUSE, Docker, kubectl, `make check` itself, ...); it is listed as
skipped with its reason. Blocks of other languages (yaml, json, c, text: file contents and
command synopses) are not commands and are not run.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(ROOT, "README.md")
SHELL_LANGS = ("sh", "bash", "console")
SKIP_MARK = "# skip-test:"
COMMAND_TIMEOUT_S = 60
DEMO_READY_S = 180
DEMO_STOP_S = 60
# The default layout (scripts/run-demo.sh): REST 8080.., ZeroMQ 5549..; offsets from the base.
REST_PORTS = {8080: 0, 8081: 1, 8082: 2, 8083: 3, 8084: 4, 8085: 5, 8087: 7, 8092: 12, 8102: 22}
ZMQ_PORTS = {p: p - 5549 + 30 for p in range(5549, 5564)}
JSON_ERROR = re.compile(r'"error"\s*:\s*\{\s*"code"')


def blocks(text):
    """Yields (language, first line number of the body, [(line number, line)])."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang, body, j = m.group(1), [], i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            body.append((j + 1, lines[j]))
            j += 1
        yield lang, i + 2, body
        i = j + 1


def commands(lang, body):
    """Yields (line number, command) of one block: continuation lines joined; comments and
    blank lines left out; in console blocks only the lines after '$ '."""
    pending, start = None, 0
    for ln, line in body:
        if lang == "console":
            if pending is None:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
        if pending is None:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            pending, start = line, ln
        else:
            pending += "\n" + line
        if line.endswith("\\"):
            continue
        yield start, pending
        pending = None
    if pending is not None:
        yield start, pending


def free_base():
    """A base port whose range base..base+44 is free on loopback."""
    for base in range(21000, 60000, 50):
        ok = True
        for off in range(0, 45):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", base + off))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return base
    raise SystemExit("readme: no free range of 45 ports between 21000 and 60000")


def move_ports(cmd, base):
    def repl(m):
        port = int(m.group(2))
        if port in REST_PORTS:
            return m.group(1) + str(base + REST_PORTS[port])
        if port in ZMQ_PORTS:
            return m.group(1) + str(base + ZMQ_PORTS[port])
        return m.group(0)
    return re.sub(r"(:)(\d{4})\b", repl, cmd)


def start_demo(build, home, base, log_path):
    env = dict(os.environ, HOME=home, VX_DEMO_PORT_BASE=str(base), VX_DEMO_SECONDS="0")
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("VEXFS_CONTEXT", None)
    log = open(log_path, "w")
    proc = subprocess.Popen([os.path.join(ROOT, "scripts", "run-demo.sh"), build], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + DEMO_READY_S
    while time.monotonic() < deadline:
        with open(log_path) as f:
            if "demo: try in another terminal" in f.read():
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_demo(proc)
    with open(log_path) as f:
        sys.stderr.write(f.read()[-4000:])
    raise SystemExit("readme: the demo suite did not start (its output above)")


def stop_demo(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(DEMO_STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def run(cmd, env, state):
    """Runs one command in bash with the variables of the earlier ones; saves its own."""
    script = ('. "$README_STATE" 2>/dev/null\n' + cmd + '\nrc=$?\n'
              'declare -p 2>/dev/null | grep -Ev "^declare -[a-zA-Z]*r" > "$README_STATE.new"\n'
              'mv "$README_STATE.new" "$README_STATE"\nexit $rc\n')
    env = dict(env, README_STATE=state)
    try:
        p = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=COMMAND_TIMEOUT_S, start_new_session=True)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, out, err


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    bindir = build if os.path.isabs(build) else os.path.join(ROOT, build)
    bindir = os.path.join(bindir, "bin")
    with open(README) as f:
        text = f.read()
    work = tempfile.mkdtemp(prefix="vexfs-readme.")
    home = os.path.join(work, "home")
    os.makedirs(home)
    base = free_base()
    print(f"readme: a demo suite on ports {base}..{base + 44} (HOME {home})", flush=True)
    demo = start_demo(build, home, base, os.path.join(work, "demo.log"))
    env = dict(os.environ, HOME=home, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("VEXFS_CONTEXT", None)
    state = os.path.join(work, "state.sh")
    ran, failed, skipped = 0, [], []
    try:
        for lang, first, body in blocks(text):
            if lang not in SHELL_LANGS:
                continue
            head = next((line for _, line in body if line.strip()), "")
            if head.startswith(SKIP_MARK):
                skipped.append((first, head[len(SKIP_MARK):].strip()))
                continue
            for ln, cmd in commands(lang, body):
                moved = move_ports(cmd, base)
                rc, out, err = run(moved, env, state)
                ran += 1
                bad = rc != 0 or JSON_ERROR.search(out)
                more = " ..." if "\n" in cmd else ""
                print(f"{'FAIL' if bad else 'ok  '} README.md:{ln}: {cmd.splitlines()[0]}{more}",
                      flush=True)
                if bad:
                    why = ("timed out after %d s" % COMMAND_TIMEOUT_S if rc is None
                           else "exit status %d" % rc if rc != 0 else "a JSON error answer")
                    failed.append((ln, cmd, moved, why, out, err))
    finally:
        rc = stop_demo(demo)
    for ln, reason in skipped:
        print(f"skip README.md:{ln}: {reason}")
    for ln, cmd, moved, why, out, err in failed:
        print(f"\n---- README.md:{ln}: {why}\n$ {cmd}")
        if moved != cmd:
            print(f"(run as: {moved})")
        print(f"stdout: {out[-2000:]!r}\nstderr: {err[-2000:]!r}")
    print(f"\nreadme: {ran} commands, {len(failed)} failed, {len(skipped)} blocks skipped; "
          f"the demo suite exited with status {rc}")
    if rc != 0:
        print(f"readme: the demo's output is in {work}/demo.log")
    if failed or rc != 0:
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
