"""How many probes a second the ``openai:`` client keeps going against a serving fleet, and
that a run killed mid-way resumes to the same records (issue 26).

    python benchmarks/bench_client.py --out /tmp/bench-client
    python benchmarks/bench_client.py --latency 0 --concurrency 64 --cache none --clips 300
    python benchmarks/bench_client.py --resume-check --out /tmp/bench-resume

The server is ``standin_server.py`` in its own process on 127.0.0.1, answering each request
after a fixed latency (0 and 0.2 s). The probes are the attribute audit's (gender and
accent, direct / CoT / defense, no silence control: 6 per clip) on synthetic clips of 1.5
to 4 s (white noise shaped by a slow envelope; the server never listens, only the bytes
count). What is timed is :func:`telltale.dispatch.run_probes` alone, as the runner calls it:
media loaded, hashed and encoded, requests sent, records written and flushed. Per setting
it reports probes/s, the share of ``concurrency / latency`` reached, the most and the mean
requests in flight at the server, and the CPU seconds of client and server.

``--cache`` none is ``--no-cache``; cold is the response cache on and empty (every answer is
looked up, then stored); warm is the same cache again on a new run directory (every answer
a hit, nothing sent).

``--resume-check`` runs the same ``telltale attributes`` command twice against a server
with 20 ms latency: once through, and once killed with SIGKILL when a third of its
records are written and started again; the two runs must hold the same records (same keys,
same content, any order).

Where the time goes: ``py-spy record --idle -o prof.svg -- python benchmarks/bench_client.py
--latency 0 --concurrency 64 --cache none`` (py-spy samples every thread).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf
from machine import machine_info

from telltale.attributes.audit import AttributesAudit, AttributesConfig
from telltale.cache import CachedModel, ResponseCache
from telltale.config import RunOptions
from telltale.dispatch import run_probes
from telltale.models import load_model
from telltale.probes import MediaLoader
from telltale.rundir import RunDir

HERE = Path(__file__).resolve().parent


def make_corpus(root: Path, clips: int, seed: int = 0) -> Path:
    """``clips`` WAV files of 1.5-4 s and a manifest with gender and accent labels."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "manifest.csv"
    if manifest.exists() and len(manifest.read_text().splitlines()) == clips + 1:
        return manifest
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(clips):
        n = int(16000 * rng.uniform(1.5, 4.0))
        envelope = 0.5 + 0.5 * np.sin(np.linspace(0, rng.uniform(3, 12), n))
        audio = (0.1 * envelope * rng.standard_normal(n)).astype(np.float32)
        sf.write(root / f"c{i}.wav", audio, 16000)
        rows.append({"id": f"c{i}", "audio": f"c{i}.wav",
                     "gender": ("female", "male")[i % 2],
                     "accent": ("american", "british", "indian")[i % 3]})
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "audio", "gender", "accent"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The stand-in server in its own process."""

    def __init__(self, latency: float, max_seconds: float = 1800.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "standin_server.py"), "--port", str(self.port),
             "--latency", str(latency), "--max-seconds", str(max_seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/v1/models", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the stand-in server did not start")

    def stats(self, reset: bool = False) -> dict[str, float]:
        return httpx.request("POST" if reset else "GET", f"{self.url}/stats", timeout=10).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def attribute_probes(manifest: Path, scratch: Path):
    config = AttributesConfig(data=manifest, attributes=("gender", "accent"),
                              modes=("direct", "cot", "defense"), silence_control=False)
    audit = AttributesAudit(config)
    run = RunDir(scratch / "prepare")
    audit.prepare(run, RunOptions(out=run.path, model="openai:m@http://127.0.0.1:9/v1"))
    (job,) = audit.jobs(run)
    return config, job


def measure(server: Server, config, job, concurrency: int, cache: str, latency: float,
            seconds: float, out: Path) -> dict[str, Any]:
    """One setting: a new run directory, the first probes that fill about ``seconds`` at
    the ideal rate (at least 400)."""
    ideal = concurrency / latency if latency else float("inf")
    count = min(len(job.probes), max(400, int(min(ideal, 3000) * seconds)))
    probes = job.probes[:count]
    model: Any = load_model(f"openai:m@{server.url}/v1", concurrency=concurrency)
    cache_path = out / f"cache-{latency}-{concurrency}.sqlite"
    rows = []
    for mode in (["cold", "warm"] if cache == "cold+warm" else [cache]):
        if mode == "cold" and cache_path.exists():
            cache_path.unlink()
        target = model if mode == "none" else CachedModel(model, ResponseCache(cache_path))
        run = RunDir(out / f"run-{latency}-{concurrency}-{mode}")
        if run.path.exists():
            raise SystemExit(f"{run.path} exists; choose a new --out")
        run.start("attributes", config.to_dict(), model="openai:m",
                  model_fingerprint=model.fingerprint)
        server.stats(reset=True)
        cpu, started = time.process_time(), time.perf_counter()
        counts = run_probes(run, probes, target, decoding=job.decoding, batch_size=8,
                            loader=MediaLoader(seed=0), desc=f"c={concurrency} {mode}")
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        at_server = server.stats()
        rate = count / elapsed
        rows.append({"latency": latency, "concurrency": concurrency, "cache": mode,
                     "probes": count, "errors": counts["errors"], "seconds": round(elapsed, 3),
                     "probes_per_s": round(rate, 1),
                     "share_of_ideal": None if not latency or mode == "warm"
                     else round(rate / ideal, 3),
                     "most_in_flight": at_server["most_in_flight"],
                     "mean_in_flight": round(at_server["mean_in_flight"], 1),
                     "requests_at_server": at_server["requests"],
                     "client_cpu_s": round(cpu, 2),
                     "server_cpu_s": round(at_server["cpu_seconds"], 2)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def resume_check(manifest: Path, out: Path) -> dict[str, Any]:
    """The same command uninterrupted and killed with SIGKILL mid-way then resumed."""
    server = Server(latency=0.02)
    try:
        def command(run: Path) -> list[str]:
            return [sys.executable, "-m", "telltale", "-q", "attributes", "--model",
                    f"openai:m@{server.url}/v1,concurrency=32", "--no-cache", "--data",
                    str(manifest), "--attributes", "gender,accent", "--no-silence",
                    "--out", str(run)]

        env = {**os.environ, "TELLTALE_CACHE": str(out / "unused-cache")}
        whole, killed = out / "resume-whole", out / "resume-killed"
        quiet = {"env": env, "stdout": subprocess.DEVNULL}
        subprocess.run(command(whole), check=True, timeout=600, **quiet)
        expected = len((whole / "records.jsonl").read_text().splitlines())
        proc = subprocess.Popen(command(killed), **quiet)
        written = 0
        while proc.poll() is None:
            path = killed / "records.jsonl"
            written = len(path.read_bytes().splitlines()) if path.exists() else 0
            if written >= expected // 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait()
        at_kill = written
        subprocess.run(command(killed), check=True, timeout=600, **quiet)
    finally:
        server.stop()

    def records(run: Path) -> dict[str, dict]:
        rows = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
        by_key = {r["key"]: r for r in rows}
        assert len(by_key) == len(rows), f"{run}: a key recorded twice"
        return by_key

    a, b = records(whole), records(killed)
    same = a == b
    result = {"records": expected, "written_when_killed": at_kill,
              "killed_exit": proc.returncode, "same_keys": set(a) == set(b),
              "same_records": same}
    print(json.dumps(result), flush=True)
    if not same:
        raise SystemExit("the resumed run differs from the uninterrupted one")
    return result


def components(manifest: Path, out: Path, repeat: int = 300) -> dict[str, float]:
    """CPU microseconds of each step of one probe, one step at a time on one thread (no
    other thread competes for the interpreter), against the stand-in server at 0 ms: where
    the client's time goes, without a sampling profiler's own cost."""
    from concurrent.futures import ThreadPoolExecutor

    from telltale.media.audio import load_audio
    from telltale.models.base import DecodingConfig, Generation, Request
    from telltale.models.wire import prepare_media
    from telltale.probes import answered

    config, job = attribute_probes(manifest, out)
    probes = job.probes[:repeat]
    paths = sorted({p.sample.media for p in probes})
    server = Server(latency=0.0)
    try:
        model = load_model(f"openai:m@{server.url}/v1", concurrency=1)
        cache = CachedModel(model, ResponseCache(out / "components.sqlite"))
        run = RunDir(out / "components-run")
        run.start("attributes", config.to_dict(), model="openai:m")
        decoding = DecodingConfig(max_new_tokens=96)
        audio = [load_audio(p) for p in paths]

        def cpu(step, items) -> tuple[float, list]:
            """CPU microseconds per call of ``step``; results are dropped as they come,
            as in a run (holding hundreds of 256 KB bodies makes each allocation fault
            in fresh pages, several times the cost of the step itself)."""
            started = time.process_time()
            for item in items:
                step(item)
            return (time.process_time() - started) / len(items) * 1e6, []

        per_clip = {"load and decode": cpu(load_audio, paths)[0],
                    "sha256": cpu(lambda a: Request("", audio=a).media_sha256(), audio)[0],
                    "WAV, base64, JSON part": cpu(lambda a: prepare_media(
                        Request("", audio=a)), audio)[0]}
        requests = [Request(p.text, system=p.system, audio=audio[paths.index(p.sample.media)])
                    for p in probes]
        body_cpu = cpu(lambda r: model.generation_body(r, decoding, False), requests)[0]
        both = cpu(lambda r: model.generate([r], decoding), requests)[0]
        outcomes = [("The speaker sounds female.", None)] * len(probes)
        records = list(zip(probes, requests, outcomes, strict=True))
        per_probe = {
            "request body": body_cpu,
            "HTTP exchange (send, receive, parse the reply)": both - body_cpu,
            "record (build, JSON)": cpu(lambda i: answered(*i, False).to_json(), records)[0],
            "record appended": cpu(lambda i: run.append(answered(*i, False)), records)[0]
            - cpu(lambda i: answered(*i, False), records)[0],
            "cache key and lookup": cpu(lambda r: cache.answer(
                "generate", cache.key("generate", r, decoding)), requests)[0],
            "cache store (one transaction per 256)": cpu(lambda r: cache.remember(
                [("generate", cache.key("generate", r, decoding), Generation("x"))] * 1),
                requests)[0] / 256 + cpu(lambda r: cache.key("generate", r, decoding),
                                         requests)[0],
        }
        with ThreadPoolExecutor(8) as pool:
            per_probe["hand-off to a worker and back"] = cpu(
                lambda _: pool.submit(int).result(), range(repeat))[0]
    finally:
        server.stop()
    result = {"per_clip_us": {k: round(v, 1) for k, v in per_clip.items()},
              "per_probe_us": {k: round(v, 1) for k, v in per_probe.items()},
              "probes_per_clip": len(probes) / len(paths)}
    print(json.dumps(result, indent=2), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-client"))
    parser.add_argument("--clips", type=int, default=1000, help="6 probes per clip")
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 64, 256, 1024])
    parser.add_argument("--cache", nargs="+", default=["none", "cold+warm"],
                        choices=["none", "cold", "cold+warm"])
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="probes per setting: about this long at the ideal rate")
    parser.add_argument("--resume-check", action="store_true",
                        help="only the kill -9 / resume check (on 120 clips)")
    parser.add_argument("--components", action="store_true",
                        help="only the CPU time of each step of a probe (where it goes)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    if args.resume_check:
        manifest = make_corpus(args.out / "corpus-120", 120)
        result = {"machine": info, "resume": resume_check(manifest, args.out)}
        (args.out / "resume.json").write_text(json.dumps(result, indent=2))
        return
    manifest = make_corpus(args.out / f"corpus-{args.clips}", args.clips)
    if args.components:
        result = {"machine": info, "components": components(manifest, args.out)}
        (args.out / "components.json").write_text(json.dumps(result, indent=2))
        return
    config, job = attribute_probes(manifest, args.out)
    rows: list[dict[str, Any]] = []
    for latency in args.latency:
        server = Server(latency)
        try:
            for concurrency in args.concurrency:
                for cache in args.cache:
                    rows += measure(server, config, job, concurrency, cache, latency,
                                    args.seconds, args.out)
        finally:
            server.stop()
    (args.out / "results.json").write_text(json.dumps({"machine": info, "rows": rows},
                                                      indent=2))
    print(f"\nload average at start {info['load_average']}, {info['cpus']} cpus")
    print("| latency | concurrency | cache | probes | probes/s | of ideal | most / mean in "
          "flight | CPU s client / server |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        share = "" if r["share_of_ideal"] is None else f"{r['share_of_ideal']:.0%}"
        # at 0 ms (and from the cache) nothing waits at the server: no figure in flight
        flight = f"{r['most_in_flight']} / {r['mean_in_flight']:.0f}" \
            if r["latency"] and r["cache"] != "warm" else ""
        print(f"| {r['latency'] * 1000:.0f} ms | {r['concurrency']} | {r['cache']} | "
              f"{r['probes']} | {r['probes_per_s']:.0f} | {share} | {flight} | "
              f"{r['client_cpu_s']} / {r['server_cpu_s']} |")


if __name__ == "__main__":
    main()
