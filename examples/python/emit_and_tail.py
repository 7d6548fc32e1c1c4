#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Example: emit events from Python and read them back from propagation's tap.

    emit_and_tail.py [N]

Subscribes to the tap, emits N events (default 5) as one all-or-nothing batch, waits until
propagation acknowledged them, then reads the tap until every one of them was seen."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vexfs  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    run = "%d-%d" % (os.getpid(), time.time_ns())
    paths = ["/examples/python/%s/file-%d" % (run, i) for i in range(n)]
    with vexfs.Client() as client, client.tap() as tap:
        # A tap sees what is published once its subscription reached the publisher, which
        # ZeroMQ completes in the background: emit a probe until the tap shows one.
        deadline = time.monotonic() + 10
        joined, probe = False, 0
        while not joined and time.monotonic() < deadline:
            probe += 1
            client.emit({"type": "user_action", "content": {"probe": "%s-%d" % (run, probe)}})
            client.flush(5000)
            event = tap.next_event(200)
            while event and not joined:
                joined = event.get("content", {}).get("probe", "").startswith(run)
                event = None if joined else tap.next_event(0)
        if not joined:
            print("emit_and_tail: the tap showed nothing within 10 s", file=sys.stderr)
            return 1
        taken = client.emit([{"type": "filesystem_create", "path": p,
                              "content": {"size": str(i)}} for i, p in enumerate(paths)])
        client.flush(10000)
        stats = client.stats()
        print("emitted %d events, acknowledged %d in all (with %d probes)" % (
            taken, stats["acked_events"], probe))
        seen = set()
        deadline = time.monotonic() + 10
        while len(seen) < n and time.monotonic() < deadline:
            event = tap.next_event(1000)
            if event and event.get("path") in paths:
                seen.add(event["path"])
        print("tap: saw %d of %d events" % (len(seen), n))
        return 0 if len(seen) == n else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except vexfs.VexfsError as e:
        print("emit_and_tail: %s" % e.strerror, file=sys.stderr)
        sys.exit(1)
