"""Worker "hosts" on this machine: one Linux network namespace each, joined to the root
namespace by a veth pair, with its own UTS hostname (``unshare --uts``) and nothing but the
veth link to reach the outside.

Every name starts with ``PREFIX`` followed by the owning pytest process id, so a session
sweeps the leftovers of a crashed earlier session (owner gone) without touching those of a
session still running next to it.

Addresses: host ``n`` of a session gets the /30 ``10.231.<block>.<4n>``; the root side is
``.4n+1``, the namespace side ``.4n+2``. ``block`` is the first one no interface of the
root namespace uses yet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PREFIX = "cpmh"
_OWNED = re.compile(rf"^{PREFIX}(\d+)")
PROXY_SCRIPT = Path(__file__).with_name("tcp_proxy.py")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    return out


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); not root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    m = _OWNED.match(name)
    return int(m.group(1)) if m else None


def namespaces() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list").stdout.splitlines()
            if line.strip()]


def links() -> list[str]:
    out = json.loads(run("ip", "-j", "link", "show").stdout or "[]")
    return [str(i["ifname"]) for i in out]


def _pids_in(ns: str) -> list[int]:
    out = run("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in out.stdout.split()]


def remove_namespace(ns: str) -> None:
    """Kill whatever still runs inside, then delete it (its veth end goes with it, and the
    root end with that)."""
    for pid in _pids_in(ns):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    run("ip", "netns", "del", ns, check=False)


def sweep(owner_alive: bool = False) -> list[str]:
    """Delete the namespaces and veths of sessions whose pytest process is gone (or, with
    ``owner_alive``, of this process too). Returns what it removed."""
    removed = []
    me = os.getpid()
    for ns in namespaces():
        owner = _owner(ns)
        if owner is not None and ((owner == me and owner_alive) or not _alive(owner)):
            remove_namespace(ns)
            removed.append(ns)
    for link in links():
        name = link.split("@")[0]
        owner = _owner(name)
        if owner is not None and ((owner == me and owner_alive) or not _alive(owner)):
            run("ip", "link", "del", name, check=False)
            removed.append(name)
    return removed


def free_block() -> int:
    used = run("ip", "-o", "-4", "addr", "show").stdout
    for block in range(1, 255):
        if f" 10.231.{block}." not in used:
            return block
    raise RuntimeError("no free 10.231.x.0/24 block")


@dataclass
class Host:
    """One worker host: namespace ``ns``, root-side veth ``veth`` (``root_ip``), namespace
    side ``peer`` (``ip``), UTS hostname ``hostname``."""

    index: int
    ns: str
    veth: str
    peer: str
    root_ip: str
    ip: str
    hostname: str

    def create(self) -> Host:
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.peer)
        run("ip", "link", "set", self.peer, "netns", self.ns)
        run("ip", "addr", "add", f"{self.root_ip}/30", "dev", self.veth)
        run("ip", "link", "set", self.veth, "up")
        run("ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{self.ip}/30",
            "dev", self.peer)
        run("ip", "netns", "exec", self.ns, "ip", "link", "set", self.peer, "up")
        run("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        return self

    def cut(self) -> None:
        """Pull the cable: the root end goes down, so neither side's packets pass."""
        run("ip", "link", "set", self.veth, "down")

    def restore(self) -> None:
        run("ip", "link", "set", self.veth, "up")
        # Bringing the link up again re-adds the connected route; the address stayed.

    def link_up(self) -> bool:
        out = json.loads(run("ip", "-j", "link", "show", self.veth).stdout)
        return "UP" in out[0].get("flags", [])

    def argv(self, *command: str) -> list[str]:
        """``command`` run inside this host: its namespace and its own hostname."""
        inner = ["ip", "netns", "exec", self.ns]
        if shutil.which("unshare"):
            script = 'hostname "$0" && exec "$@"'
            return [*inner, "unshare", "--uts", "sh", "-c", script, self.hostname, *command]
        return [*inner, *command]

    def destroy(self) -> None:
        remove_namespace(self.ns)
        run("ip", "link", "del", self.veth, check=False)


def make_hosts(count: int) -> list[Host]:
    block = free_block()
    tag = f"{PREFIX}{os.getpid()}"
    hosts = []
    try:
        for n in range(1, count + 1):
            base = 4 * n
            hosts.append(Host(
                index=n, ns=f"{tag}h{n}", veth=f"{tag}h{n}r", peer=f"{tag}h{n}n",
                root_ip=f"10.231.{block}.{base + 1}", ip=f"10.231.{block}.{base + 2}",
                hostname=f"mh-host{n}").create())
    except BaseException:
        for h in hosts:
            h.destroy()
        raise
    return hosts


class Proxy:
    """``tcp_proxy.py`` in the root namespace: one listener per (host, service)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.popen: subprocess.Popen[str] | None = None
        self.ports: dict[str, int] = {}

    def start(self, pairs: list[str]) -> Proxy:
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen([sys.executable, str(PROXY_SCRIPT), *pairs],
                                      stdout=subprocess.PIPE, stderr=self.log, text=True,
                                      start_new_session=True)
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"tcp proxy did not start: {self.log_path.read_text()}")
        self.ports = {k: int(v) for k, v in json.loads(line).items()}
        return self

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        if getattr(self, "log", None) is not None:
            self.log.close()
