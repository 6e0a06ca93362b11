"""`idstitch ingest` of a large file behaves as an operator expects: a refusal names the file and
line, the summary says what was committed, refused and not sent and where to resume, refused
lines can be set aside, and Ctrl-C ends with the summary instead of a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from idstitch.channels import with_key
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from server.app import RunningServer
from server.config import Settings

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.e2e


def write_events(path: Path, count: int, bad: dict[int, str] | None = None) -> Path:
    """`count` lines, line n an event of cookie ck-n; `bad` replaces line n by its text."""
    with path.open("w") as f:
        for n in range(1, count + 1):
            line = json.dumps({"eventId": f"e-{n}", "channel": "web", "type": "page_view",
                               "identifiers": [{"type": "cookie", "value": f"ck-{n}"}]})  # fmt: skip
            f.write((bad or {}).get(n, line) + "\n")
    return path


def ingest(server: RunningServer, settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IDSTITCH_KEY_FILE": str(settings.data_dir / "admin.key")}
    return subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "ingest", *args, "--target", f"127.0.0.1:{server.port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('server.cli', run_name='__main__', alter_sys=True)"
)
"""`python -m server.cli` with Ctrl-C as a terminal's finds it: a runner started in the
background (`nohup … &`) passes SIGINT on ignored, and Python then installs no KeyboardInterrupt
handler. Set in the child itself: a `preexec_fn` runs Python between fork and exec in a copy of
this process, whose gRPC threads (the test server's) make that unsafe — a CI run lost the child
to SIGABRT (-6) there."""


def known(server: RunningServer, settings: Settings, cookie: str) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        stub = pb_grpc.IdentityServiceStub(
            with_key(ch, (settings.data_dir / "admin.key").read_text().strip())
        )
        try:
            stub.Resolve(pb.ResolveRequest(identifier=ev_pb.Identifier(type="cookie", value=cookie)))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND
            return False
        return True


BAD_TYPE = json.dumps({"eventId": "e-bad", "channel": "web", "type": "page_view",
                       "identifiers": [{"type": "shoe_size", "value": "44"}]})  # fmt: skip


def test_a_refused_line_is_named_by_file_and_line_and_the_summary_says_where_to_resume(
    server, settings, tmp_path: Path
) -> None:
    events = write_events(tmp_path / "events.jsonl", 250, {201: BAD_TYPE})
    proc = ingest(server, settings, str(events), "--batch", "50")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert f"{events}:201: identifiers[0].type:" in err and "requests[" not in err and "events[" not in err
    summary = json.loads(out)
    assert (summary["eventsCommitted"], summary["linesRefused"], summary["linesNotSent"]) == (200, 1, 49)
    assert summary["resumeFromLine"] == 201 and "--from-line 201" in err
    assert known(server, settings, "ck-200") and not known(server, settings, "ck-202")
    # Resent from the resume line after the fix: the rest goes in.
    write_events(events, 250)
    proc = ingest(server, settings, str(events), "--from-line", "201")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and json.loads(out)["eventsCommitted"] == 50
    assert known(server, settings, "ck-250")


def test_skip_invalid_sets_refused_lines_aside_verbatim_and_loads_the_rest(
    server, settings, tmp_path: Path
) -> None:
    events = write_events(tmp_path / "events.jsonl", 120, {7: BAD_TYPE, 60: "{not json", 61: BAD_TYPE})
    rejects = tmp_path / "rejects.jsonl"
    proc = ingest(server, settings, str(events), "--batch", "25", "--skip-invalid", "--rejects", str(rejects))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert (summary["eventsCommitted"], summary["linesRefused"]) == (
        117,
        3,
    ) and "resumeFromLine" not in summary
    assert f"{events}:60: not an idstitch.v1.Event" in err and f"{events}:61:" in err
    assert rejects.read_text().splitlines() == [BAD_TYPE, "{not json", BAD_TYPE]
    assert known(server, settings, "ck-120") and known(server, settings, "ck-8")
    # The whole file again: every line a duplicate, nothing new.
    proc = ingest(server, settings, str(events), "--skip-invalid")
    summary = json.loads(proc.communicate(timeout=120)[0])
    assert (summary["eventsCommitted"], summary["eventsDuplicate"]) == (0, 117)


def test_ctrl_c_ends_with_the_summary_and_every_line_before_the_resume_line_is_in(
    server, settings, tmp_path: Path
) -> None:
    events = write_events(tmp_path / "events.jsonl", 200_000)  # far more than is loaded when stopped
    proc = ingest(server, settings, str(events), "--batch", "100")
    deadline = time.monotonic() + 60
    while not known(server, settings, "ck-100") and time.monotonic() < deadline:  # loading has begun
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    summary = json.loads(out)
    resume = summary["resumeFromLine"]
    assert 1 < resume <= 200_000 and summary["eventsCommitted"] == resume - 1
    assert summary["linesNotSent"] == 200_000 - resume + 1
    assert known(server, settings, f"ck-{resume - 1}")


def test_ctrl_c_between_two_batches_resumes_after_the_last_batch_in(monkeypatch, capsys) -> None:
    """Ctrl-C while the next batch is read from the file, not while one is sent: the summary still
    names the line to resume from (the first line of the batch not sent)."""
    import argparse
    import io

    from server import cli_ingest

    class Stub:
        def Ingest(self, request, timeout):  # type: ignore[no-untyped-def]
            return pb.IngestResponse(
                results=[pb.EventResult(outcome=pb.OUTCOME_CREATED) for _ in request.events]
            )

    class Interrupted(io.StringIO):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for n, line in enumerate(iter(self.readline, ""), 1):
                if n == 251:
                    raise KeyboardInterrupt
                yield line

    lines = "".join(
        json.dumps({"eventId": f"e-{n}", "channel": "web", "type": "page_view",
                    "identifiers": [{"type": "cookie", "value": f"ck-{n}"}]}) + "\n"
        for n in range(1, 401)
    )  # fmt: skip
    monkeypatch.setattr("sys.stdin", Interrupted(lines))
    args = argparse.Namespace(file=Path("-"), batch=100, from_line=1, skip_invalid=False, rejects=None)
    assert cli_ingest.run(Stub(), args) == 130  # type: ignore[arg-type]
    summary = json.loads(capsys.readouterr().out)
    assert (summary["eventsCommitted"], summary["resumeFromLine"]) == (200, 201)
