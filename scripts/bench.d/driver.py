#!/usr/bin/env python3
"""driver.py: runs scripts/bench's work on every contender, interleaved per
repetition, and prints the table (median and min-max spread of each figure,
with mainhost's ratio to the raw socketpair and to Node) and writes it as
JSON. It only measures and reports: nothing here asserts on speed.

Contenders are programs that print "BENCH {json}" lines (and, for start-up
and memory, "FIRST <ns>" / "READY <pid>"); each gets its parameters from the
same BENCH_* environment variables. Python 3 standard library only.
"""
import argparse
import json
import os
import platform
import re
import selectors
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH_RE = re.compile(r"BENCH (\{.*\})\s*$")
FIRST_RE = re.compile(r"FIRST ([0-9.]+)")
READY_RE = re.compile(r"READY ([0-9]+)")
T0_RE = re.compile(r"^T0 ([0-9]+)")


class Skip(Exception):
    """This contender does not do this work (the message says why)."""


# ---- running processes -------------------------------------------------------


def _reap_group(p):
    """Ends whatever is left of a process group we started (its leader is
    p), e.g. renderers of a host that crashed. Never touches other groups."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_collect(cmd, env, timeout):
    """Runs cmd to its end; returns its stdout lines. Raises on a timeout or
    a non-zero exit, with the end of stderr."""
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _reap_group(p)
        out, err = p.communicate()
        raise RuntimeError("timed out after %ss: %s\n%s" % (timeout, " ".join(cmd), err[-2000:]))
    finally:
        _reap_group(p)
    if p.returncode != 0:
        raise RuntimeError("exit %s: %s\n%s" % (p.returncode, " ".join(cmd), err[-2000:]))
    return out.splitlines()


class Live:
    """A process whose stdout is read line by line while it runs."""

    def __init__(self, cmd, env):
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.p.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.lines = []

    def wait_for(self, regex, timeout):
        """Reads until a line matches regex; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                self.lines.append(text)
                m = regex.search(text)
                if m:
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no line matching %r within %ss: %s" % (regex.pattern, timeout, " ".join(self.cmd)))
            if not self.sel.select(left):
                continue
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                err = self.p.stderr.read().decode("utf-8", "replace")
                raise RuntimeError("ended before a line matching %r: %s\n%s" % (regex.pattern, " ".join(self.cmd), err[-2000:]))
            self.buf += chunk

    def finish(self, sig=None, timeout=10):
        """Optionally signals the process, then waits for it; whatever of its
        group is still there afterwards is killed."""
        try:
            if sig is not None and self.p.poll() is None:
                self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        finally:
            _reap_group(self.p)
            self.p.wait()
            self.sel.close()
            self.p.stdout.close()
            self.p.stderr.close()


def bench_lines(lines):
    return [json.loads(m.group(1)) for m in (BENCH_RE.search(l) for l in lines) if m]


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def renderers_of(pid):
    """The host's renderer processes: its children, with the Lua renderers
    found under the renderer launcher (mainhost --zygote), which forks them."""
    out = []
    for k in children_of(pid):
        try:
            with open("/proc/%d/cmdline" % k, "rb") as f:
                launcher = b"--zygote" in f.read()
        except OSError:
            launcher = False
        out += children_of(k) if launcher else [k]
    return out


# ---- the work ----------------------------------------------------------------


class Params:
    def __init__(self, quick):
        self.quick = quick
        self.dur_ms = 150 if quick else 1000       # each round-trip measurement
        self.warm_ms = 50 if quick else 200        # untimed warm-up before it
        div = 10 if quick else 1
        self.streams = {                           # payload bytes -> messages
            "64": (64, 200000 // div),
            "4k": (4096, 20000 // div),
            "1m": (1 << 20, 200 // div),
        }
        self.conc = (1, 8, 64)
        self.idle = 64
        self.timeout = 120

    def env(self, **kw):
        e = dict(os.environ)
        e["BENCH_DUR_MS"] = str(self.dur_ms)
        e["BENCH_WARM_MS"] = str(self.warm_ms)
        for k, v in kw.items():
            e["BENCH_" + k.upper()] = str(v)
        return e


def rt_summary(results):
    """Aggregate of per-client round-trip results: total rt/s, and the
    worst client's p50/p99."""
    if not results:
        raise RuntimeError("no results")
    return {
        "rt_s": sum(r["n"] / r["secs"] for r in results),
        "p50_us": max(r["p50_us"] for r in results),
        "p99_us": max(r["p99_us"] for r in results),
        "clients": len(results),
    }


def placement(pin):
    """Command prefix and environment for a CPU placement: None lets the
    scheduler choose; "one" pins the whole tree to CPU 0 (CPU cost per
    message, no wake-ups across CPUs); "split" pins the parent to CPU 0 and
    has each child move itself to CPU 1 (every round trip crosses CPUs)."""
    if pin is None:
        return [], {}
    if pin == "split":
        return ["taskset", "-c", "0"], {"child_cpu": 1}
    return ["taskset", "-c", "0"], {}


def startup_common(live, timeout):
    t0 = int(live.wait_for(T0_RE, timeout).group(1))
    first = int(float(live.wait_for(FIRST_RE, timeout).group(1)))
    return t0, first


class Contender:
    key = ""
    label = ""

    def available(self):
        return True, ""

    def run(self, work, P):
        kind, arg = work
        return getattr(self, kind)(P, arg)


class Raw(Contender):
    key, label = "raw", "raw C socketpair"

    def __init__(self, exe):
        self.exe = exe

    def _pingpong(self, P, n, server, pin):
        pre, extra = placement(pin)
        cmd = pre + [self.exe, "pingpong", str(n), str(P.dur_ms), str(P.warm_ms), server]
        res = bench_lines(run_collect(cmd, P.env(**extra), P.timeout))
        if len(res) != n:
            raise RuntimeError("expected %d results, got %d" % (n, len(res)))
        return rt_summary(res)

    def invoke(self, P, pin):
        return self._pingpong(P, 1, "block", pin)

    def sync(self, P, pin):
        # A blocking round trip is what sendSync is: the same ping-pong, run
        # again beside it.
        return self._pingpong(P, 1, "block", pin)

    def stream(self, P, key):
        size, count = P.streams[key]
        r = bench_lines(run_collect([self.exe, "stream", str(size), str(count)], P.env(), P.timeout))[0]
        return {"msg_s": r["msg_s"], "mb_s": r["mb_s"]}

    def conc(self, P, n):
        s = self._pingpong(P, n, "epoll", None)
        return {"agg_rt_s": s["rt_s"], "worst_p99_us": s["p99_us"]}

    def startup(self, P, _):
        live = Live([self.exe, "exec-timed", self.exe, "startup"], P.env())
        try:
            t0, first = startup_common(live, P.timeout)
            r = json.loads(live.wait_for(BENCH_RE, P.timeout).group(1))
        finally:
            live.finish()
        return {"ms": r["ms"], "ms_exec": (first - t0) / 1e6}

    def _idle(self, P, n):
        live = Live([self.exe, "idle", str(n)], P.env())
        try:
            pid = int(live.wait_for(READY_RE, P.timeout).group(1))
            rss = vm_rss_kib(pid)
            kids = children_of(pid)
            child = vm_rss_kib(kids[0]) if kids else None
        finally:
            live.finish(signal.SIGTERM)
        return rss, child

    def rss(self, P, _):
        rss1, child = self._idle(P, 1)
        rssn, _ = self._idle(P, P.idle)
        return {"rss1_kib": rss1, "rssn_kib": rssn, "per_kib": (rssn - rss1) / (P.idle - 1), "child_kib": child}


class Node(Contender):
    key, label = "node", "Node fork json"

    def __init__(self, node):
        self.node = node
        self.parent = os.path.join(HERE, "node", "parent.js")

    def available(self):
        if not self.node:
            return False, "skipped: node not found on PATH"
        return True, ""

    def _run(self, P, pin=None, **kw):
        pre, extra = placement(pin)
        kw.update(extra)
        return bench_lines(run_collect(pre + [self.node, self.parent], P.env(**kw), P.timeout))

    def invoke(self, P, pin):
        return rt_summary(self._run(P, pin, mode="invoke", renderers=1))

    def sync(self, P, pin):
        raise Skip("n/a: Node's IPC has no synchronous call")

    def stream(self, P, key):
        size, count = P.streams[key]
        r = self._run(P, mode="stream", size=size, count=count)[0]
        return {"msg_s": r["msg_s"], "mb_s": r["mb_s"]}

    def conc(self, P, n):
        s = rt_summary(self._run(P, mode="conc", renderers=n))
        if s["clients"] != n:
            raise RuntimeError("expected %d results" % n)
        return {"agg_rt_s": s["rt_s"], "worst_p99_us": s["p99_us"]}

    def startup(self, P, _):
        live = Live([P.raw, "exec-timed", self.node, self.parent], P.env(mode="startup"))
        try:
            t0, first = startup_common(live, P.timeout)
            r = json.loads(live.wait_for(BENCH_RE, P.timeout).group(1))
        finally:
            live.finish()
        return {"ms": r["ms"], "ms_exec": (first - t0) / 1e6}

    def rss(self, P, _):
        live = Live([self.node, self.parent], P.env(mode="idle", renderers=1))
        try:
            pid = int(live.wait_for(READY_RE, P.timeout).group(1))
            rss = vm_rss_kib(pid)
            kids = children_of(pid)
            child = vm_rss_kib(kids[0]) if kids else None
        finally:
            live.finish(signal.SIGTERM)
        return {"rss1_kib": rss, "child_kib": child}


class Mainhost(Contender):
    """mainhost running scripts/bench.d/mh/main.lua with renderers of one
    kind: "lua" (renderer.lua, `mainhost --renderer`) or "c" (a program
    linked to the C client library; see scripts/bench for how it is built)."""

    def __init__(self, exe, kind, c_renderer=None):
        self.exe = exe
        self.kind = kind
        self.c_renderer = c_renderer
        self.key = "mh-" + kind
        self.label = "mainhost, %s renderer" % ("Lua" if kind == "lua" else "C-client")

    def available(self):
        if self.kind == "c" and not self.c_renderer:
            return False, "skipped: no C client yet"
        return True, ""

    def app(self, n):
        """The app for n renderers: the committed configs for Lua renderers;
        for the C client, a config written next to the build."""
        appdir = os.path.join(HERE, "mh")
        if self.kind == "lua":
            return appdir if n == 1 else os.path.join(appdir, "app-%d.json" % n)
        cfg = {"main": os.path.join(appdir, "main.lua"),
               "renderers": [{"name": "c%d" % (i + 1), "command": [self.c_renderer]} for i in range(n)]}
        path = os.path.join(os.path.dirname(self.c_renderer), "bench-c-%d.json" % n)
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def _run(self, P, n, pin=None, **kw):
        pre, extra = placement(pin)
        kw.update(extra)
        return bench_lines(run_collect(pre + [self.exe, self.app(n)], P.env(renderers=n, **kw), P.timeout))

    def invoke(self, P, pin):
        return rt_summary(self._run(P, 1, pin, mode="invoke"))

    def sync(self, P, pin):
        return rt_summary(self._run(P, 1, pin, mode="sync"))

    def stream(self, P, key):
        size, count = P.streams[key]
        r = self._run(P, 1, mode="stream", size=size, count=count)[0]
        return {"msg_s": r["msg_s"], "mb_s": r["mb_s"]}

    def conc(self, P, n):
        s = rt_summary(self._run(P, n, mode="conc"))
        if s["clients"] != n:
            raise RuntimeError("expected %d results" % n)
        return {"agg_rt_s": s["rt_s"], "worst_p99_us": s["p99_us"]}

    def startup(self, P, _):
        # From exec of `mainhost APP` to the first message its main script
        # handled: the whole start-up (host, Lua, config, renderer spawn).
        live = Live([P.raw, "exec-timed", self.exe, self.app(1)], P.env(mode="startup", renderers=1))
        try:
            t0, first = startup_common(live, P.timeout)
        finally:
            live.finish()
        ms = (first - t0) / 1e6
        return {"ms": ms, "ms_exec": ms}

    def _idle(self, P, n):
        live = Live([self.exe, self.app(n)], P.env(mode="idle", renderers=n))
        try:
            pid = int(live.wait_for(READY_RE, P.timeout).group(1))
            rss = vm_rss_kib(pid)
            kids = renderers_of(pid)
            child = vm_rss_kib(kids[0]) if kids else None
        finally:
            live.finish(signal.SIGTERM)
        return rss, child

    def rss(self, P, _):
        rss1, child = self._idle(P, 1)
        rssn, _ = self._idle(P, P.idle)
        return {"rss1_kib": rss1, "rssn_kib": rssn, "per_kib": (rssn - rss1) / (P.idle - 1), "child_kib": child}


# ---- the plan: works, rows, targets ---------------------------------------------

def works(P):
    w = []
    for kind in ("invoke", "sync"):
        w += [(kind, (kind, None)), (kind + "_split", (kind, "split")), (kind + "_pinned", (kind, "one"))]
    w += [("stream_" + k, ("stream", k)) for k in P.streams]
    w += [("conc_%d" % n, ("conc", n)) for n in P.conc]
    w += [("startup", ("startup", None)), ("rss", ("rss", None))]
    return w


# (row id, label, work, metric, unit, decimals, baselines): baselines maps a
# baseline contender to the (work, metric) the ratio divides by (default:
# the same), or is "none" for a row that is itself a ratio.
ROWS = [
    ("invoke_rt", "invoke round trips", "invoke", "rt_s", "rt/s", 0, None),
    ("invoke_p50", "invoke p50", "invoke", "p50_us", "µs", 1, None),
    ("invoke_p99", "invoke p99", "invoke", "p99_us", "µs", 1, None),
    ("split_rt", "invoke round trips, split CPUs", "invoke_split", "rt_s", "rt/s", 0, None),
    ("split_p50", "invoke p50, split CPUs", "invoke_split", "p50_us", "µs", 1, None),
    ("split_p99", "invoke p99, split CPUs", "invoke_split", "p99_us", "µs", 1, None),
    ("pinned_rt", "invoke round trips, one CPU", "invoke_pinned", "rt_s", "rt/s", 0, None),
    ("pinned_p50", "invoke p50, one CPU", "invoke_pinned", "p50_us", "µs", 1, None),
    ("pinned_p99", "invoke p99, one CPU", "invoke_pinned", "p99_us", "µs", 1, None),
    ("sync_rt", "sendSync round trips", "sync", "rt_s", "rt/s", 0, None),
    ("sync_p50", "sendSync p50", "sync", "p50_us", "µs", 1, None),
    ("sync_p99", "sendSync p99", "sync", "p99_us", "µs", 1, None),
    ("sync_split_rt", "sendSync round trips, split CPUs", "sync_split", "rt_s", "rt/s", 0, None),
    ("sync_split_p50", "sendSync p50, split CPUs", "sync_split", "p50_us", "µs", 1, None),
    ("sync_pinned_rt", "sendSync round trips, one CPU", "sync_pinned", "rt_s", "rt/s", 0, None),
    ("sync_pinned_p50", "sendSync p50, one CPU", "sync_pinned", "p50_us", "µs", 1, None),
    ("send64_msg", "send 64 B", "stream_64", "msg_s", "msg/s", 0, None),
    ("send64_mb", "send 64 B", "stream_64", "mb_s", "MB/s", 1, None),
    ("send4k_msg", "send 4 KiB", "stream_4k", "msg_s", "msg/s", 0, None),
    ("send4k_mb", "send 4 KiB", "stream_4k", "mb_s", "MB/s", 0, None),
    ("send1m_msg", "send 1 MiB", "stream_1m", "msg_s", "msg/s", 0, None),
    ("send1m_mb", "send 1 MiB", "stream_1m", "mb_s", "MB/s", 0, None),
    ("conc1_rt", "1 renderer invoking: aggregate", "conc_1", "agg_rt_s", "rt/s", 0, None),
    ("conc1_p99", "1 renderer: worst p99", "conc_1", "worst_p99_us", "µs", 1, None),
    ("conc8_rt", "8 renderers invoking: aggregate", "conc_8", "agg_rt_s", "rt/s", 0, None),
    ("conc8_p99", "8 renderers: worst p99", "conc_8", "worst_p99_us", "µs", 1, None),
    ("conc64_rt", "64 renderers invoking: aggregate", "conc_64", "agg_rt_s", "rt/s", 0, None),
    ("conc64_p99", "64 renderers: worst p99", "conc_64", "worst_p99_us", "µs", 1, None),
    ("scale_64_8", "64 vs 8 renderers (aggregate ratio)", "scaling", "ratio", "×", 2, "none"),
    ("startup_ms", "start-up to first message handled", "startup", "ms", "ms", 2, None),
    ("startup_exec", "start-up from exec of the parent", "startup", "ms_exec", "ms", 2, None),
    ("rss1", "parent/host RSS, 1 child", "rss", "rss1_kib", "KiB", 0, None),
    ("rss64", "parent/host RSS, 64 idle children", "rss", "rssn_kib", "KiB", 0, None),
    ("rss_per", "RSS per extra idle child", "rss", "per_kib", "KiB", 1, "none"),
    ("rss_child", "child process RSS", "rss", "child_kib", "KiB", 0, None),
]
ROW_NOTES = {
    "invoke_rt": "free: the scheduler places the processes (bimodal: sometimes both on one CPU)",
    "split_rt": "split CPUs: the parent on CPU 0, the child on CPU 1; one CPU: the whole tree on CPU 0",
    "sync_rt": "raw: the blocking ping-pong again; Node has no synchronous IPC call",
    "startup_ms": "raw and Node: fork to first message; mainhost: exec of `mainhost APP` to first message",
    "startup_exec": "from exec of the parent process (node / raw / mainhost) to the first message",
}

# (label, row, contender, baseline row, baseline contender, op, factor)
# op "ge": mainhost/baseline >= factor; "le": mainhost/baseline <= factor;
# "lt_abs": the figure itself < factor.
TARGETS = [
    ("invoke p50 within 1.2× of raw ping-pong (free)", "invoke_p50", "raw", "le", 1.2),
    ("  the same, split CPUs", "split_p50", "raw", "le", 1.2),
    ("invoke throughput ≥ 1.2× Node (free)", "invoke_rt", "node", "ge", 1.2),
    ("  the same, split CPUs", "split_rt", "node", "ge", 1.2),
    ("invoke throughput on one CPU ≥ 2.5× Node on one CPU", "pinned_rt", "node", "ge", 2.5),
    ("64 B sends ≥ 2× Node msg/s", "send64_msg", "node", "ge", 2.0),
    ("1 MiB sends ≥ 4× Node MB/s", "send1m_mb", "node", "ge", 4.0),
    ("64 renderers ≥ 0.9× the 8-renderer aggregate", "scale_64_8", None, "ge_abs", 0.9),
    ("start-up ≤ 1/10 of Node's fork-to-first-message", "startup_ms", "node", "le", 0.1),
    ("host RSS with 1 renderer ≤ 1/10 of Node's parent", "rss1", "node", "le", 0.1),
    ("< 64 KiB host RSS per idle renderer", "rss_per", None, "lt_abs", 64.0),
]


# ---- statistics and formatting ---------------------------------------------------

def derive(results, contenders, reps):
    """Adds the per-repetition 64/8 scaling ratio as the work "scaling"."""
    out = {}
    for c in contenders:
        vals = []
        for i in range(reps):
            a = _get(results, "conc_64", c, i, "agg_rt_s")
            b = _get(results, "conc_8", c, i, "agg_rt_s")
            vals.append({"ratio": a / b} if a is not None and b else None)
        out[c] = vals
    results["scaling"] = out


def _get(results, work, c, i, metric):
    runs = results.get(work, {}).get(c)
    if not runs or i >= len(runs) or not isinstance(runs[i], dict):
        return None
    return runs[i].get(metric)


def stat(results, work, c, metric):
    runs = results.get(work, {}).get(c) or []
    vals = [r[metric] for r in runs if isinstance(r, dict) and r.get(metric) is not None]
    if not vals:
        notes = [r for r in runs if isinstance(r, str)]
        return {"note": notes[0] if notes else None}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt_num(v, dec):
    if v is None:
        return "—"
    if dec == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, dec)


def fmt_cell(s, dec, reps):
    if "median" not in s:
        n = s.get("note") or ""
        if n.startswith("n/a") or n.startswith("error"):
            return n.split(":")[0]
        return "—" if not n else "skip"
    if reps > 1 and s["n"] > 1:
        return "%s (%s–%s)" % (fmt_num(s["median"], dec), fmt_num(s["min"], dec), fmt_num(s["max"], dec))
    return fmt_num(s["median"], dec)


def build_summary(results, contenders, mh_keys):
    rows = []
    for rid, label, work, metric, unit, dec, bases in ROWS:
        row = {"id": rid, "label": label, "unit": unit, "work": work, "metric": metric,
               "decimals": dec, "values": {}, "ratios": {}}
        for c in contenders:
            row["values"][c] = stat(results, work, c, metric)
        for m in mh_keys:
            mv = row["values"][m].get("median")
            for b in ("raw", "node"):
                if bases == "none":
                    continue
                bw, bm = (bases or {}).get(b, (work, metric))
                bv = stat(results, bw, b, bm).get("median") if b in contenders else None
                row["ratios"]["%s/%s" % (m, b)] = (mv / bv) if (mv is not None and bv and bv > 0) else None
        if rid in ROW_NOTES:
            row["note"] = ROW_NOTES[rid]
        rows.append(row)
    return rows


def eval_targets(rows, mh_key):
    by = {r["id"]: r for r in rows}
    out = []
    for label, rid, base, op, factor in TARGETS:
        r = by[rid]
        if op in ("ge", "le"):
            v = r["ratios"].get("%s/%s" % (mh_key, base))
        else:
            v = r["values"][mh_key].get("median")
        if v is None:
            met = None
        elif op in ("ge", "ge_abs"):
            met = v >= factor
        elif op == "le":
            met = v <= factor
        else:
            met = v < factor
        out.append({"target": label, "row": rid, "contender": mh_key, "value": v,
                    "met": met, "measure": ("ratio to " + base) if base else r["unit"]})
    return out


def render_table(rows, contenders, labels, mh_keys, reps, markdown=False):
    head = ["figure", "unit"] + [labels[c] for c in contenders]
    for m in mh_keys:
        head += ["%s ÷ raw" % m, "%s ÷ node" % m]
    body = []
    for r in rows:
        line = [r["label"], r["unit"]]
        line += [fmt_cell(r["values"][c], r["decimals"], reps) for c in contenders]
        for m in mh_keys:
            for b in ("raw", "node"):
                v = r["ratios"].get("%s/%s" % (m, b))
                line.append("—" if v is None else "%.2f×" % v)
        body.append(line)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        out += ["| " + " | ".join(l) + " |" for l in body]
        return "\n".join(out)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    def fmt(l):
        return "  ".join((x.ljust(w) if i < 2 else x.rjust(w)) for i, (x, w) in enumerate(zip(l, widths))).rstrip()
    out = [fmt(head), fmt(["-" * w for w in widths])]
    out += [fmt(l) for l in body]
    return "\n".join(out)


def render_targets(targets, markdown=False):
    out = []
    if markdown:
        out += ["| target | measured | met |", "|---|---|---|"]
    for t in targets:
        v = t["value"]
        meas = "—" if v is None else ("%.2f× (%s)" % (v, t["measure"]) if t["measure"].startswith("ratio")
                                     else "%.2f %s" % (v, t["measure"]))
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
        out.append("| %s | %s | %s |" % (t["target"], meas, met) if markdown
                   else "  %-52s %-30s %s" % (t["target"], meas, met))
    return "\n".join(out)


# ---- the machine -------------------------------------------------------------------

def _cmd(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine(args):
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lua = _cmd(["lua5.4", "-v"])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "node": _cmd([args.node, "--version"]) if args.node else None,
        "lua": lua,
        "libuv": _cmd(["pkg-config", "--modversion", "libuv"]),
        "mainhost": _cmd([args.mainhost, "--version"]),
        "gcc": _cmd(["gcc", "-dumpfullversion"]),
        "commit": _cmd(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
        "loadavg_start": _loadavg(),
    }


def _loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


# ---- main ------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mainhost", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--node", default=None)
    ap.add_argument("--c-renderer", default=None, help="a C-client renderer program (when it exists)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--only", default=None, help="comma-separated works (invoke,sync,stream_64,...)")
    ap.add_argument("--json", default=None,
                    help="where to write the JSON (default build/bench.json, build/bench-quick.json with --quick)")
    ap.add_argument("--markdown", default=None, help="also write the table and targets as markdown")
    args = ap.parse_args()

    if args.json is None:  # a smoke run never overwrites the last full run
        args.json = os.path.join(ROOT, "build", "bench-quick.json" if args.quick else "bench.json")
    P = Params(args.quick)
    P.raw = args.raw
    reps = args.reps or (1 if args.quick else 5)

    all_c = [Raw(args.raw), Node(args.node), Mainhost(args.mainhost, "lua"),
             Mainhost(args.mainhost, "c", args.c_renderer)]
    notes = {}
    active = []
    for c in all_c:
        ok, why = c.available()
        if ok:
            active.append(c)
        else:
            notes[c.key] = why
    keys = [c.key for c in active]
    labels = {c.key: c.label for c in all_c}
    mh_keys = [k for k in keys if k.startswith("mh-")]

    plan = works(P)
    if args.only:
        want = set(args.only.split(","))
        plan = [w for w in plan if w[0] in want]

    info = machine(args)
    print("mainhost bench: %d repetition(s)%s, %s; %s, %s CPU(s), kernel %s" % (
        reps, " (--quick)" if args.quick else "", ", ".join(labels[k] for k in keys),
        info["cpu"], info["nproc"], info["kernel"]), flush=True)
    for k, why in notes.items():
        print("  %s: %s" % (labels[k], why), flush=True)
    if (info["loadavg_start"] or 0) > 0.5:
        print("  note: the machine is busy (load average %.2f): figures will be noisy" % info["loadavg_start"], flush=True)

    results = {w: {k: [] for k in keys} for w, _ in plan}
    failures = []
    started = time.monotonic()
    for i in range(reps):
        for wname, work in plan:
            # Interleave: each repetition starts with a different contender.
            order = active[i % len(active):] + active[:i % len(active)]
            for c in order:
                try:
                    r = c.run(work, P)
                except Skip as e:
                    r = str(e)
                except Exception as e:  # a failure is reported, the rest goes on
                    print("  ! %s / %s: %s" % (c.key, wname, e), file=sys.stderr, flush=True)
                    r = "error: %s" % str(e).splitlines()[0]
                    failures.append("%s / %s" % (c.key, wname))
                results[wname][c.key].append(r)
        print("  repetition %d/%d done (%.0f s)" % (i + 1, reps, time.monotonic() - started), file=sys.stderr, flush=True)
    derive(results, keys, reps)

    rows = build_summary(results, keys, mh_keys)
    # Rows of work not run (--only) are left out of the table.
    ran = set(results)
    rows = [r for r in rows if r["work"] in ran and any("median" in v for v in r["values"].values())]
    targets = []
    if len(rows) == len(ROWS):
        for m in mh_keys:
            targets += eval_targets(rows, m)

    print()
    print(render_table(rows, keys, labels, mh_keys, reps))
    print()
    print("Cells: median (min–max) over %d repetition(s); ratios are mainhost's median ÷ the baseline's." % reps)
    for r in rows:
        if "note" in r:
            print("  %s: %s" % (r["label"], r["note"]))
    for k, why in notes.items():
        print("  %s: %s" % (labels[k], why))
    for m in mh_keys:
        mine = [t for t in targets if t["contender"] == m]
        if mine:
            print()
            print("Targets of issue 6, %s (informational, never a test; \"free\" rows are bimodal,"
                  " read the split and one-CPU ones):" % labels[m])
            print(render_targets(mine))

    doc = {
        "version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": info,
        "params": {"quick": args.quick, "reps": reps, "dur_ms": P.dur_ms, "warm_ms": P.warm_ms,
                   "streams": P.streams, "concurrency": list(P.conc), "idle": P.idle},
        "contenders": {c.key: {"label": c.label, "skipped": notes.get(c.key)} for c in all_c},
        "rows": rows,
        "targets": targets,
        "runs": results,
        "elapsed_s": time.monotonic() - started,
        "loadavg_end": _loadavg(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("\nJSON: %s" % args.json)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render_table(rows, keys, labels, mh_keys, reps, markdown=True) + "\n\n")
            for m in mh_keys:
                mine = [t for t in targets if t["contender"] == m]
                if mine:
                    f.write("Targets, %s:\n\n" % labels[m] + render_targets(mine, markdown=True) + "\n\n")
        print("markdown: %s" % args.markdown)
    if failures:
        # A run that could not complete is a failure of the bench or of the
        # program under test, never a judgement on speed.
        print("\n%d run(s) failed: %s" % (len(failures), ", ".join(failures)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
