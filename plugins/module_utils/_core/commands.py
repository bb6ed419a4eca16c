# -*- coding: utf-8 -*-
# Copyright (c) certkeeper.pki contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commands certkeeper runs for a user (a CA helper, pre-save and post-save commands): bounded in time and
in output, whatever the command does."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time

COMMAND_TIMEOUT = 300  # seconds a helper, pre-save or post-save command may run (CERTKEEPER_COMMAND_TIMEOUT)
OUTPUT_LIMIT = 1024 * 1024  # bytes of stdout and of stderr a command may print; one printing more is stopped


class CommandResult(tuple):
    """``(exit code, stdout, stderr)`` of a command, and ``stopped``: why certkeeper ended it ("timeout",
    "output") or "". The exit code is None when it was stopped."""

    stopped = ""

    def __new__(cls, code, out: str, err: str, stopped: str = ""):
        result = super().__new__(cls, (code, out, err))
        result.stopped = stopped
        return result


def run_command(
    command: str,
    env: dict | None = None,
    timeout: int | None = None,
    limit: int | None = None,
) -> CommandResult:
    """``/bin/sh -c command``: (exit code, stdout, stderr); a command that was stopped has exit code None.

    The timeout (CERTKEEPER_COMMAND_TIMEOUT seconds, 300 by default) ends the command's whole process
    group, so a helper's own children cannot keep the renewal waiting. Output is read as it comes, at most
    ``limit`` bytes of each stream (OUTPUT_LIMIT, 1 MiB, by default): a command printing more is killed the
    same way (``stopped == "output"``), so memory stays bounded whatever a command prints."""
    timeout = timeout or int(os.environ.get("CERTKEEPER_COMMAND_TIMEOUT") or COMMAND_TIMEOUT)
    limit = limit or OUTPUT_LIMIT
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    kept: dict = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    stopped, reason = "", ""
    try:
        with selectors.DefaultSelector() as selector:
            for stream in kept:
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map() and not stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    stopped, reason = "timeout", "timed out after %d s" % timeout
                    break
                for ready, _events in selector.select(min(left, 1.0)):
                    chunk = os.read(ready.fd, 65536)
                    if not chunk:
                        selector.unregister(ready.fileobj)
                        continue
                    buffer = kept[ready.fileobj]
                    room = limit - len(buffer)
                    buffer += chunk[: max(room, 0)]
                    if len(chunk) > room:
                        name = "stdout" if ready.fileobj is proc.stdout else "stderr"
                        stopped, reason = "output", "printed more than %d bytes on %s; stopped" % (limit, name)
                        break
        if not stopped:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                stopped, reason = "timeout", "timed out after %d s" % timeout
    except BaseException:
        stopped = "interrupted"
        raise
    finally:
        if stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
        proc.wait()
    if stopped:
        return CommandResult(None, "", reason, stopped)
    out, err = (kept[s].decode("utf-8", "replace") for s in (proc.stdout, proc.stderr))
    return CommandResult(proc.returncode, out, err)
