"""`python -m bench.forkserver`: start `rc-pipeline` commands as fresh processes without paying the
imports each time (Dagster, pyarrow, DuckDB: seconds per process), so a test can kill many of them.

It imports the pipeline once, then for each request forks a child that runs `rc_pipeline.cli.main`
with the request's argv and environment, output to the request's log file. The child is an ordinary
process of its own (its own pid, files, sockets): killing it with SIGKILL is killing the command.

Protocol, one JSON object a line: stdin `{"argv": [...], "env": {...}, "log": path}`; stdout
`pid <n>` when the child started, then `exit <code>` when it ended (negative: killed by that signal).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback


def _child(request: dict) -> None:
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # TMPDIR is the request's, not the server's
    code = 1
    try:
        from rc_pipeline.cli import main

        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    # What every `rc-pipeline archive` imports, once.
    import rc_pipeline.backfill
    import rc_pipeline.cli
    import rc_pipeline.definitions  # noqa: F401

    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve()
