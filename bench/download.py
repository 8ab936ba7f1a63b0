"""Scenario 4: stream one large recording through the client; compare with a plain httpx stream.

The simulator generates the recording's bytes chunk by chunk as it sends them (never the whole body in
memory). Each download runs in a fresh child process whose peak RSS is read with wait4; the two kinds
alternate. The client writes to a file in the work directory (sha256 on the way, fsync at the end,
rename into place: what the archive does); the plain stream reads the same URL into /dev/null.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from bench.common import Result, median, own_peak_rss_bytes, run_child, simulator_settings
from rc_pipeline.simulator import SimulatorConfig, start_simulator

MiB = 2**20


def child(kind: str, spec: dict) -> dict:
    import httpx

    if kind == "plain":
        headers = {"Authorization": f"Bearer {spec['token']}", "Accept-Encoding": "identity"}
        size = 0
        with httpx.Client(timeout=httpx.Timeout(30.0, read=120.0)) as http, open(os.devnull, "wb") as sink:
            started = time.perf_counter()
            with http.stream("GET", spec["url"], headers=headers) as response:
                response.raise_for_status()
                for chunk in response.iter_raw():
                    sink.write(chunk)
                    size += len(chunk)
            seconds = time.perf_counter() - started
        return {"kind": kind, "bytes": size, "seconds": seconds, "peak_rss_bytes": own_peak_rss_bytes()}
    from rc_pipeline.ringcentral import RingCentralClient, RingCentralSettings

    settings = RingCentralSettings(
        server_url=spec["server_url"],
        media_url=spec["media_url"],
        client_id=spec["client_id"],
        client_secret=spec["client_secret"],
        jwt=spec["jwt"],
    )
    with RingCentralClient(settings) as client:
        client.login()
        started = time.perf_counter()
        result = client.download_recording(
            {"id": spec["recording_id"], "contentUri": spec["url"]}, spec["dest"]
        )
        seconds = time.perf_counter() - started
    os.remove(result.path)
    return {
        "kind": kind,
        "bytes": result.size,
        "seconds": seconds,
        "sha256": result.sha256,
        "peak_rss_bytes": own_peak_rss_bytes(),
    }


def run(workdir: Path, *, size_bytes: int, rounds: int, log=print) -> list[Result]:
    scenario = "4 download"
    config = SimulatorConfig(
        days=3,
        calls_per_day=50,
        large_recording_bytes=size_bytes,
        rate_limits={"Heavy": (1000, 1.0), "Auth": (1000, 1.0), "Light": (1000, 1.0), "Medium": (1000, 1.0)},
    )
    results: dict[str, list[dict]] = {"client": [], "plain": []}
    rss: dict[str, list[int]] = {"client": [], "plain": []}
    with start_simulator(config) as sim:
        from rc_pipeline.ringcentral import RingCentralClient

        recording_id = sim.account.large_recording_id()
        if recording_id is None:
            raise RuntimeError("the simulator has no large recording")
        url = f"{sim.media_url}/restapi/v1.0/account/{sim.account_id}/recording/{recording_id}/content"
        with RingCentralClient(simulator_settings(sim)) as parent:
            parent.login()
            spec = {
                "server_url": sim.base_url,
                "media_url": sim.media_url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "jwt": sim.jwt,
                "recording_id": recording_id,
                "url": url,
                "dest": str(workdir / f"{recording_id}.bin"),
                "token": parent.session.tokens.access_token(),
            }
            spec_file = workdir / "download-spec.json"
            spec_file.write_text(json.dumps(spec))
            for n in range(rounds):
                for kind in ("client", "plain") if n % 2 == 0 else ("plain", "client"):
                    run_ = run_child(["-m", "bench.download", kind, str(spec_file)], timeout=900)
                    if run_.returncode != 0:
                        raise RuntimeError(f"{kind} download failed:\n{run_.stderr[-3000:]}")
                    report = run_.last_json()
                    # MP3 bodies are whole frames: the server may send a few bytes more than asked.
                    if not size_bytes <= report["bytes"] < size_bytes + 4096:
                        raise RuntimeError(f"{kind} received {report['bytes']} bytes, asked for {size_bytes}")
                    results[kind].append(report)
                    rss[kind].append(run_.peak_rss_bytes())
                    log(
                        f"  round {n + 1} {kind:>6}: {report['bytes'] / MiB / report['seconds']:.0f} MiB/s, "
                        f"peak RSS {run_.peak_rss_bytes() / MiB:.0f} MiB"
                    )
            spec_file.unlink()
    if len({r["bytes"] for r in results["client"] + results["plain"]}) != 1:
        raise RuntimeError("the client and the plain stream received different sizes")
    client_rate = median([r["bytes"] / r["seconds"] for r in results["client"]])
    plain_rate = median([r["bytes"] / r["seconds"] for r in results["plain"]])
    share = client_rate / plain_rate
    peak = max(rss["client"])
    return [
        Result(scenario, "recording MiB", round(size_bytes / MiB)),
        Result(scenario, "client peak RSS MiB", round(peak / MiB, 1), "< 150", peak < 150 * MiB),
        Result(scenario, "plain httpx peak RSS MiB", round(max(rss["plain"]) / MiB, 1)),
        Result(scenario, "client MiB/s (median)", round(client_rate / MiB, 1)),
        Result(scenario, "plain httpx MiB/s (median)", round(plain_rate / MiB, 1)),
        Result(scenario, "client / plain throughput", round(share, 3), ">= 0.90", share >= 0.9),
    ]


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], json.loads(Path(sys.argv[2]).read_text()))))
