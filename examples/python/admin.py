#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Example: the admin API from Python: statistics and routing rules.

    admin.py

Prints propagation's counters and routing's rules (GET /v1/stats, GET /v1/rules)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vexfs  # noqa: E402


def main():
    with vexfs.Client() as client:
        status, stats = client.call("propagation", "GET", "/v1/stats")
        if status != 200:
            print("propagation: HTTP %d %s" % (status, stats), file=sys.stderr)
            return 1
        print("propagation: received %d events, propagated %d" % (
            sum(stats["received"].values()), stats["propagated"]))
        status, rules = client.call("routing", "GET", "/v1/rules")
        if status != 200:
            print("routing: HTTP %d %s" % (status, rules), file=sys.stderr)
            return 1
        print("routing: version %d, %d rules: %s" % (
            rules["version"], len(rules["rules"]),
            ", ".join(r["id"] for r in rules["rules"]) or "none"))
        return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except vexfs.VexfsError as e:
        print("admin: %s" % e.strerror, file=sys.stderr)
        sys.exit(1)
