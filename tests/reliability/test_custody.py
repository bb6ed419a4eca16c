"""Key custody on a three-host run (db1: CA + server, app1/app2: clients, each with its own
directories): the CA key exists on db1 only, each client key on its own host only, and every file
that holds a private key has its final owner and mode from the moment it exists. The writers run
with umask 000 under strace, so every creation mode and every chmod is seen, not sampled."""

from __future__ import annotations

import glob
import os
import pwd
import re
import stat
import sys

import pytest

from ansible_collections.certkeeper.pki.plugins.module_utils._core import crypto
from ansible_collections.certkeeper.pki.plugins.module_utils._core.pkcs12 import load_pkcs12

pytestmark = pytest.mark.integration
KEY_HOLDER = re.compile(r"(\.key|\.pk8|\.pfx|\.pending)(\.certkeeper-[0-9a-f]+)?$")
HOST_OF = {"ca": "db1", "ssl": "db1", "store-db1": "db1", "app1": "app1", "store-app1": "app1",
           "app2": "app2", "store-app2": "app2"}
INTENDED_KEY_MODES = {"db1": {0o600}, "app1": {0o640, 0o600}, "app2": {0o640, 0o600}}  # 0600: root-only records
LINE = re.compile(r"^(?:\[pid\s+)?(\d+)?\]?\s*(\w+)\((.*)\)\s+=\s+(-?\d+)")


@pytest.fixture(scope="module")
def traced(lab):
    traces = os.path.join(lab.base, "traces")
    os.makedirs(traces)
    wrapper = os.path.join(lab.base, "python-umask-000")
    with open(wrapper, "w") as handle:
        handle.write('#!/bin/sh\numask 000\nexec strace -f --seccomp-bpf -qq -o %s/trace-$$ -e trace=open,openat,creat,chmod,fchmod,'
                     'fchmodat,fchown,chown,mkdir,mkdirat %s "$@"\n' % (traces, sys.executable))
    os.chmod(wrapper, 0o755)
    inventory = lab.write_inventory("custody.yml", all={"ansible_python_interpreter": wrapper})
    run = lab.run(inventory=inventory)
    assert run.returncode == 0, run.output
    events = []
    for trace in glob.glob(os.path.join(traces, "trace-*")):
        events += _events(open(trace).read().splitlines())
    return lab, events


def _events(lines: list) -> list:
    """(call, path, mode) for creations and mode changes, fds resolved to the paths they were opened as."""
    fds, events = {}, []
    for line in lines:
        match = LINE.match(line)
        if not match:
            continue
        pid, call, args, result = match.group(1) or "main", match.group(2), match.group(3), int(match.group(4))
        path = re.search(r'"([^"]*)"', args)
        if call in ("open", "openat", "creat") and result >= 0 and path:
            fds[(pid, result)] = path.group(1)
            if "O_CREAT" in args or call == "creat":
                events.append(("create", path.group(1), int(args.rsplit(",", 1)[1], 8)))
        elif call == "fchmod" and result == 0:
            fd, mode = args.split(",")
            events.append(("chmod", fds.get((pid, int(fd)), "fd %s" % fd), int(mode, 8)))
        elif call in ("chmod", "fchmodat") and result == 0 and path:
            events.append(("chmod", path.group(1), int(args.rsplit(",", 1)[1], 8)))
    return events


def _host(lab, path: str) -> str | None:
    relative = os.path.relpath(path, lab.base)
    return HOST_OF.get(relative.split(os.sep)[0])


def test_the_writers_were_traced(traced):
    lab, events = traced
    created = {os.path.basename(p) for kind, p, _mode in events if kind == "create"}
    assert any(n.startswith(".root.key.certkeeper-") for n in created)
    assert any(n.startswith(".client.key.pending.certkeeper-") for n in created)
    assert any(n.startswith(".client.pfx.certkeeper-") for n in created)


def test_every_file_is_created_private_even_with_umask_000(traced):
    lab, events = traced
    wide = [(p, "%04o" % m) for kind, p, m in events
            if kind == "create" and p.startswith(lab.base) and _host(lab, p) and m & 0o077]
    assert wide == []


def test_a_key_holder_is_never_given_a_wider_mode_than_intended(traced):
    lab, events = traced
    changes = [(p, m) for kind, p, m in events if kind == "chmod" and KEY_HOLDER.search(p) and _host(lab, p)]
    assert len(changes) >= 10
    wrong = [(p, "%04o" % m) for p, m in changes if m not in INTENDED_KEY_MODES[_host(lab, p)]]
    assert wrong == []


def _private_keys_in(path: str) -> list:
    data = open(path, "rb").read()
    try:
        return [crypto.load_private_key(data)]
    except crypto.CertError:
        pass
    if path.endswith(".pfx"):
        return [load_pkcs12(data, "").key]
    return []


def test_each_key_exists_only_on_its_own_host(traced):
    lab, _trace = traced
    owners = {"ca/root.key": "db1", "ssl/server.key": "db1", "app1/client.key": "app1", "app2/client.key": "app2"}
    secrets = {}
    for name in owners:
        numbers = crypto.load_private_key(open(os.path.join(lab.base, name), "rb").read()).private_numbers()
        number = numbers.d if hasattr(numbers, "d") else numbers.private_value
        secrets[name] = number.to_bytes((number.bit_length() + 7) // 8, "big")
    found = {name: set() for name in owners}
    for directory, dirs, files in os.walk(lab.base):
        dirs[:] = [d for d in dirs if os.path.join(directory, d) != lab.cluster.base]
        for file_name in files:
            path = os.path.join(directory, file_name)
            data = open(path, "rb").read()
            keys = _private_keys_in(path) if KEY_HOLDER.search(path) else []
            for name, secret in secrets.items():
                own = crypto.load_private_key(open(os.path.join(lab.base, name), "rb").read())
                if secret in data or any(crypto.same_public_key(k, own) for k in keys if k is not None):
                    found[name].add(os.path.relpath(path, lab.base))
    assert found["ca/root.key"] == {"ca/root.key"}  # one file, on the CA host only
    assert found["ssl/server.key"] == {"ssl/server.key"}
    for host in ("app1", "app2"):
        assert found["%s/client.key" % host] == {"%s/%s" % (host, n) for n in
                                                 ("client.key", "client.pk8", "client.pem.pk8", "client.pfx")}


def test_final_owners_and_modes(traced):
    lab, _trace = traced
    expected = {"ca/root.key": (0o600, "root"), "ssl/server.key": (0o600, "postgres"),
                "app1/client.key": (0o640, "root"), "app1/client.pk8": (0o640, "root"),
                "app1/client.pfx": (0o640, "root"), "app2/client.pem.pk8": (0o640, "root")}
    for name, (mode, owner) in expected.items():
        st = os.stat(os.path.join(lab.base, name))
        assert (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name) == (mode, owner), name
    assert stat.S_IMODE(os.stat(lab.ca_dir).st_mode) == 0o700
