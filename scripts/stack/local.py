"""Processes of the local stack: moto server, resource provisioning from the template, and
`cargo lambda watch`. Everything binds to 127.0.0.1 and is stopped on exit, error or Ctrl-C."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from .cfn import ACCOUNT, REGION, Evaluator, load_template

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("STREAMOPS_VENV", ROOT / ".venv"))
LOCAL_DIR = ROOT / ".local"
STACK_NAME = "streamops"

# Settings that point the real SDK clients at moto. They belong to the local harness, not to the
# template: deployed functions use the default AWS endpoints.
LOCAL_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "S3_FORCE_PATH_STYLE": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening on 127.0.0.1:{port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


class Processes:
    """Owns child processes (each in its own process group) and stops them all, once."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        atexit.register(self.stop_all)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame):
        self.stop_all()
        sys.exit(128 + signum)

    def start(self, name: str, args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
        self.children.append((name, proc))
        return proc

    def stop_all(self) -> None:
        while self.children:
            name, proc = self.children.pop()
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


class LocalStack:
    """moto + resources from template.yaml + (optionally) the functions under cargo lambda watch."""

    def __init__(self, parameters: dict | None = None, log_dir: Path | None = None):
        self.procs = Processes()
        self.log_dir = log_dir or LOCAL_DIR / "logs"
        self.template = load_template(ROOT / "template.yaml")
        self.cfn = Evaluator(self.template, STACK_NAME, parameters)
        self.moto_port = 0
        self.watch_port = 0
        self.provisioned: list[str] = []
        self.skipped: list[str] = []

    # ------------------------------------------------------------------ moto
    def start_moto(self) -> str:
        # moto plus the EMR actions it lacks (instance fleets, managed scaling): scripts/stack/moto_ext.py
        exe = VENV / "bin" / "python"
        if not (VENV / "bin" / "moto_server").exists():
            raise SystemExit(f"moto is not installed in {VENV}: run `make setup` first")
        self.moto_port = free_port()
        proc = self.procs.start("moto", [str(exe), "-m", "scripts.stack.moto_ext", "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                self.log_dir / "moto.log")
        wait_for_port(self.moto_port, 30, proc, "moto_server")
        return self.endpoint

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def client(self, service: str):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    # ------------------------------------------------------------------ provisioning
    def provision(self) -> None:
        """Creates every enabled resource the functions use, named as the template names it."""
        for logical, res in self.cfn.resources.items():
            if not self.cfn.enabled(logical):
                continue
            handler = getattr(self, "_create_" + res["Type"].replace("::", "_"), None)
            if handler is None:
                self.skipped.append(f"{logical} ({res['Type']})")
                continue
            handler(logical, self.cfn.eval(res.get("Properties") or {}))
            self.provisioned.append(f"{logical} ({res['Type']}: {self.cfn.physical_name(logical)})")

    def _create_AWS_DynamoDB_Table(self, logical: str, p: dict) -> None:
        ddb = self.client("dynamodb")
        kwargs = {
            "TableName": self.cfn.physical_name(logical),
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if p.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        ddb.create_table(**kwargs)
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=kwargs["TableName"],
                                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})

    def _create_AWS_SNS_Topic(self, logical: str, p: dict) -> None:
        arn = self.client("sns").create_topic(Name=self.cfn.physical_name(logical))["TopicArn"]
        self.cfn.actual[logical] = {"Ref": arn, "TopicArn": arn}

    def _create_AWS_SQS_Queue(self, logical: str, p: dict) -> None:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=self.cfn.physical_name(logical))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.cfn.actual[logical] = {"Ref": url, "Arn": arn, "QueueUrl": url}

    def _create_AWS_S3_Bucket(self, logical: str, p: dict) -> None:
        s3 = self.client("s3")
        name = self.cfn.physical_name(logical)
        s3.create_bucket(Bucket=name)
        queues = (p.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
        if queues:
            config = {"QueueConfigurations": []}
            for q in queues:
                entry = {"QueueArn": q["Queue"], "Events": [q["Event"]]}
                rules = ((q.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
                if rules:
                    entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
                config["QueueConfigurations"].append(entry)
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)

    def _create_AWS_Glue_Database(self, logical: str, p: dict) -> None:
        db = p["DatabaseInput"]
        self.client("glue").create_database(DatabaseInput={k: v for k, v in db.items() if k in ("Name", "Description", "LocationUri", "Parameters")})
        self.cfn.actual[logical] = {"Ref": db["Name"]}

    def _create_AWS_Glue_Table(self, logical: str, p: dict) -> None:
        self.client("glue").create_table(DatabaseName=p["DatabaseName"], TableInput=p["TableInput"])
        self.cfn.actual[logical] = {"Ref": p["TableInput"]["Name"]}

    def _create_AWS_Athena_WorkGroup(self, logical: str, p: dict) -> None:
        name = self.cfn.physical_name(logical)
        kwargs = {"Name": name}
        if p.get("Description"):
            kwargs["Description"] = p["Description"]
        if p.get("WorkGroupConfiguration"):
            kwargs["Configuration"] = p["WorkGroupConfiguration"]
        self.client("athena").create_work_group(**kwargs)
        self.cfn.actual[logical] = {"Ref": name}

    def _create_AWS_Kinesis_Stream(self, logical: str, p: dict) -> None:
        kin = self.client("kinesis")
        name = self.cfn.physical_name(logical)
        mode = (p.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        if mode == "ON_DEMAND":
            kin.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        else:
            kin.create_stream(StreamName=name, ShardCount=int(p.get("ShardCount", 1)))
        kin.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})

    def _create_AWS_SecretsManager_Secret(self, logical: str, p: dict) -> None:
        gen = p.get("GenerateSecretString") or {}
        value = secrets.token_urlsafe(int(gen.get("PasswordLength", 32)))[: int(gen.get("PasswordLength", 32))]
        arn = self.client("secretsmanager").create_secret(Name=self.cfn.physical_name(logical), SecretString=value)["ARN"]
        self.cfn.actual[logical] = {"Ref": arn, "Id": arn}

    # ------------------------------------------------------------------ functions
    def function_env(self) -> dict[str, str]:
        """The union of every function's environment from the template, plus the local endpoint."""
        env: dict[str, str] = {}
        for f in self.cfn.functions().values():
            env.update({k: v for k, v in f["env"].items()})
        env.update(LOCAL_ENV)
        env["AWS_ENDPOINT_URL"] = self.endpoint
        return env

    def subscribe_queue(self, topic_logical: str, queue_name: str) -> str:
        """A subscriber to watch what a topic delivers: an SQS queue, SNS envelope kept."""
        sqs, sns = self.client("sqs"), self.client("sns")
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.cfn.ref(topic_logical), Protocol="sqs", Endpoint=arn)
        return url

    def drain(self, queue_url: str, expect_at_least: int = 0, wait_s: float = 5.0) -> list[dict]:
        """Every message on a subscriber queue (SNS envelopes, parsed), waiting briefly for stragglers."""
        sqs = self.client("sqs")
        got: list[dict] = []
        deadline = time.monotonic() + wait_s
        while True:
            resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"])
            msgs = resp.get("Messages", [])
            for m in msgs:
                got.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            if not msgs:
                if len(got) >= expect_at_least or time.monotonic() > deadline:
                    return got
                time.sleep(0.2)

    def start_functions(self, cargo_env: dict | None = None) -> None:
        """`cargo lambda watch` serving every function binary with the template's environment."""
        env_file = LOCAL_DIR / "functions.env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text("".join(f"{k}='{v}'\n" for k, v in sorted(self.function_env().items())))
        self.watch_port = free_port()
        env = dict(os.environ)
        env.update(cargo_env or {})
        env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '')}"
        args = [str(VENV / "bin" / "cargo-lambda"), "lambda", "watch", "--ignore-changes",
                "--invoke-address", "127.0.0.1", "--invoke-port", str(self.watch_port),
                "--env-file", str(env_file)]
        proc = self.procs.start("cargo lambda watch", args, self.log_dir / "watch.log", env=env)
        wait_for_port(self.watch_port, 120, proc, "cargo lambda watch")

    def invoke(self, binary: str, payload: dict | str | bytes, timeout: float = 300) -> tuple[bool, object]:
        """`cargo lambda invoke BINARY`: returns (ok, parsed response or error text)."""
        data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        if isinstance(data, bytes):
            data = data.decode()
        args = [str(VENV / "bin" / "cargo-lambda"), "lambda", "invoke", binary, "--invoke-address", "127.0.0.1",
                "--invoke-port", str(self.watch_port), "--output-format", "json", "--data-ascii", data]
        env = dict(os.environ)
        env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '')}"
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
        if r.returncode != 0:
            return False, (r.stdout + r.stderr).strip()
        try:
            return True, json.loads(r.stdout)
        except json.JSONDecodeError:
            return True, r.stdout.strip()

    def stop(self) -> None:
        self.procs.stop_all()
