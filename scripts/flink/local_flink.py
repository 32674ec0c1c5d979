"""A real Flink 2.x session cluster on 127.0.0.1, from the jars of the PyPI package
`apache-flink-libraries` (installed into .venv by scripts/bootstrap.sh) and the machine's JDK 17.

The wheel ships `lib/*.jar` and `bin/bash-java-utils.jar` but no start scripts, so this does what
Flink's scripts do: write a config directory, start the JobManager
(`StandaloneSessionClusterEntrypoint`) and one TaskManager (`TaskManagerRunner`, with the memory
parameters `BashJavaUtils GET_TM_RESOURCE_PARAMS` computes), and talk to the REST API. Checkpoints
and savepoints go to a local `file://` directory with Flink's real layout. Everything started is
stopped by `stop()` (also on exit)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("STREAMOPS_VENV", ROOT / ".venv"))
JOB_SOURCE = Path(__file__).resolve().parent / "job" / "CountingJob.java"

# What Flink's own scripts pass on JDK 17 (env.java.opts.all in Flink's default config.yaml).
JDK17_OPTS = [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
]


def flink_home() -> Path:
    home = VENV / "lib"
    found = sorted(home.glob("python3*/site-packages/pyflink"))
    if not found or not (found[0] / "lib").is_dir():
        raise RuntimeError(f"apache-flink-libraries is not installed in {VENV}: run `make setup`")
    return found[0]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalFlink:
    def __init__(self, work: Path, adaptive: bool = False, settings: dict | None = None):
        """`settings`: Flink configuration added to (or replacing) the defaults below."""
        if shutil.which("java") is None or shutil.which("javac") is None:
            raise RuntimeError("java and javac (JDK 17) are needed for the real-Flink tests")
        self.home = flink_home()
        self.work = work
        self.conf = work / "conf"
        self.state = work / "state"  # stands in for the bucket: flink/checkpoints/, flink/savepoints/
        self.logs = work / "logs"
        self.rest_port = free_port()
        self.adaptive = adaptive
        self.extra_settings = dict(settings or {})
        self.procs: list[subprocess.Popen] = []
        atexit.register(self.stop)

    @property
    def classpath(self) -> str:
        return f"{self.home / 'lib'}/*"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def write_config(self) -> None:
        for d in (self.conf, self.state / "flink/checkpoints", self.state / "flink/savepoints", self.logs):
            d.mkdir(parents=True, exist_ok=True)
        settings = {
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": free_port(),
            "jobmanager.bind-host": "127.0.0.1",
            "jobmanager.memory.process.size": "900m",
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.host": "127.0.0.1",
            "taskmanager.rpc.port": free_port(),
            "taskmanager.data.port": free_port(),
            "taskmanager.memory.process.size": "1200m",
            "taskmanager.numberOfTaskSlots": 4,
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": self.rest_port,
            "blob.server.port": free_port(),
            "parallelism.default": 1,
            "execution.checkpointing.dir": f"file://{self.state}/flink/checkpoints",
            "execution.checkpointing.savepoint-dir": f"file://{self.state}/flink/savepoints",
            "execution.checkpointing.num-retained": 1,
            # As in production: a cancelled job keeps its last checkpoint to restore from.
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "state.backend.type": "hashmap",
            "io.tmp.dirs": str(self.work / "tmp"),
        }
        if self.adaptive:
            settings["jobmanager.scheduler"] = "adaptive"
        settings.update(self.extra_settings)
        (self.work / "tmp").mkdir(exist_ok=True)
        (self.conf / "config.yaml").write_text("".join(f"{k}: {json.dumps(v) if isinstance(v, str) else v}\n" for k, v in settings.items()))
        (self.conf / "log4j.properties").write_text(
            "rootLogger.level = INFO\nrootLogger.appenderRef.file.ref = FileAppender\n"
            "appender.file.name = FileAppender\nappender.file.type = FILE\nappender.file.fileName = ${sys:log.file}\n"
            "appender.file.layout.type = PatternLayout\nappender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n\n"
        )

    def _java(self, name: str, jvm: list[str], main: str, args: list[str]) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        cmd = ["java", *jvm, *JDK17_OPTS, f"-Dlog.file={log}",
               f"-Dlog4j.configurationFile=file:{self.conf / 'log4j.properties'}",
               "-cp", self.classpath, main, "--configDir", str(self.conf), *args]
        out = open(self.logs / f"{name}.out", "w")
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def start(self, timeout: float = 120) -> None:
        self.write_config()
        self._java("jobmanager", ["-Xms512m", "-Xmx512m"], "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint", [])
        params = subprocess.run(
            ["java", *JDK17_OPTS, "-cp", f"{self.home / 'bin' / 'bash-java-utils.jar'}:{self.classpath}",
             "org.apache.flink.runtime.util.bash.BashJavaUtils", "GET_TM_RESOURCE_PARAMS", "--configDir", str(self.conf)],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout
        results = [line.split(":", 1)[1] for line in params.splitlines() if line.startswith("BASH_JAVA_UTILS_EXEC_RESULT:")]
        if len(results) < 2:
            raise RuntimeError(f"BashJavaUtils gave no TaskManager parameters:\n{params}")
        jvm, dynamic = results[-2].split(), results[-1].split()
        self._java("taskmanager", jvm, "org.apache.flink.runtime.taskexecutor.TaskManagerRunner", dynamic)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a Flink process exited early; see {self.logs}")
            try:
                if self.get("/taskmanagers")["taskmanagers"]:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Flink did not come up in {timeout} s; see {self.logs}")

    # ------------------------------------------------------------------ REST
    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.rest + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(self.rest + path, data=data, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return json.loads(text) if text else {}

    def upload_job(self) -> str:
        """Compiles the test job against the cluster's jars and uploads it; returns the jar id."""
        build = self.work / "build"
        build.mkdir(exist_ok=True)
        subprocess.run(["javac", "-cp", self.classpath, "-d", str(build), str(JOB_SOURCE)], check=True, timeout=120)
        jar = self.work / "counting-job.jar"
        # With its entry point in the manifest, as a jar the scaler resubmits with no entryClass.
        subprocess.run(["jar", "cfe", str(jar), "CountingJob", "-C", str(build), "."], check=True, timeout=60)
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"{jar.name}\"\r\n"
                f"Content-Type: application/x-java-archive\r\n\r\n").encode() + jar.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.rest + "/jars/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["filename"].rsplit("/", 1)[-1]

    def run_job(self, jar_id: str, savepoint_path: str | None = None, snapshot_delay_ms: int = 0) -> str:
        body: dict = {"entryClass": "CountingJob"}
        if savepoint_path:
            body["savepointPath"] = savepoint_path
        if snapshot_delay_ms:
            body["programArgsList"] = [str(snapshot_delay_ms)]
        return self.post(f"/jars/{jar_id}/run", body)["jobid"]

    def wait_running(self, job: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/jobs/{job}")["state"]
            if state == "RUNNING" and all(v["status"] == "RUNNING" for v in self.get(f"/jobs/{job}")["vertices"]):
                return
            if state in ("FAILED", "CANCELED", "FINISHED"):
                raise RuntimeError(f"job {job} is {state}; see {self.logs}")
            time.sleep(0.3)
        raise RuntimeError(f"job {job} not running after {timeout} s")

    def wait_state(self, job: str, state: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(f"/jobs/{job}")["state"] == state:
                return
            time.sleep(0.3)
        raise RuntimeError(f"job {job} not {state} after {timeout} s")

    def checkpoints(self, job: str) -> dict:
        return self.get(f"/jobs/{job}/checkpoints")

    def wait_completed(self, job: str, count: int, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cp = self.checkpoints(job)
            if cp["counts"]["completed"] >= count:
                return cp
            time.sleep(0.3)
        raise RuntimeError(f"job {job}: fewer than {count} completed checkpoints after {timeout} s")

    def savepoint(self, job: str, cancel: bool = False, timeout: float = 60) -> str:
        """Triggers a savepoint (canonical format) and returns its path."""
        trigger = self.post(f"/jobs/{job}/savepoints", {"cancel-job": cancel})["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.get(f"/jobs/{job}/savepoints/{trigger}")
            if st["status"]["id"] == "COMPLETED":
                op = st["operation"]
                if "location" not in op:
                    raise RuntimeError(f"savepoint failed: {op}")
                return op["location"]
            time.sleep(0.3)
        raise RuntimeError(f"savepoint of {job} did not complete in {timeout} s")

    def cancel(self, job: str) -> None:
        req = urllib.request.Request(f"{self.rest}/jobs/{job}?mode=cancel", method="PATCH")
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs.clear()


def serve(adaptive: bool) -> None:
    """For tests in other languages: start a cluster, run the counting job, print one JSON line
    (REST endpoint, job id, jar id, job name, state dir), and keep everything up until stdin
    closes (the test process ends or drops the pipe)."""
    import sys
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="streamops-flink-"))
    flink = LocalFlink(work, adaptive=adaptive)
    try:
        flink.start()
        jar = flink.upload_job()
        job = flink.run_job(jar)
        flink.wait_running(job)
        print(json.dumps({"rest": flink.rest, "job": job, "jar": jar, "name": "streamops-counting-job",
                          "entry_class": "CountingJob", "state": str(flink.state)}), flush=True)
        sys.stdin.read()
    finally:
        flink.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="A local Flink session cluster running the counting job.")
    parser.add_argument("--serve", action="store_true", required=True)
    parser.add_argument("--adaptive", action="store_true", help="jobmanager.scheduler: adaptive")
    serve(parser.parse_args().adaptive)
