"""Processes of the local stack: moto server, resource provisioning from the template, and
`cargo lambda watch`. Everything binds to 127.0.0.1 and is stopped on exit, error or Ctrl-C."""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from . import iam as iam_model
from .cfn import ACCOUNT, REGION, Evaluator, load_template
from .sam import TEMPLATE as SAM_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("STREAMOPS_VENV", ROOT / ".venv"))
LOCAL_DIR = ROOT / ".local"
STACK_NAME = "streamops"

# Settings that point the real SDK clients at moto. They belong to the local harness, not to the
# template: deployed functions use the default AWS endpoints. The credentials are moto's dummy
# ones until IAM is enforced (LocalStack.enforce_iam); then each function gets its own user's.
LOCAL_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "S3_FORCE_PATH_STYLE": "true",
}

# What a function's log shows when AWS (moto) refused a call on credentials or permissions.
DENIAL_IN_LOG = re.compile(r"AccessDenied|not authorized|UnrecognizedClient|InvalidClientTokenId|"
                           r"SignatureDoesNotMatch|InvalidAccessKeyId")


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


class Denial:
    """A refused AWS call: from moto's decision log (function, action, resource) or a function's
    log line (function, line)."""

    def __init__(self, function: str, kind: str, action: str | None = None, resource: str | None = None,
                 line: str | None = None):
        self.function, self.kind, self.action, self.resource, self.line = function, kind, action, resource, line

    def __repr__(self) -> str:
        if self.line is not None:
            return f"{self.function} log: {self.line[:400]}"
        return f"{self.function}: {self.kind} {self.action} on {self.resource}"


class LocalStack:
    """moto + resources from template.yaml + (optionally) the functions under cargo lambda watch,
    each function as its own IAM principal holding exactly its execution role's actions."""

    TEMPLATE = SAM_TEMPLATE  # template.yaml, or the copy STREAMOPS_TEMPLATE names

    def __init__(self, parameters: dict | None = None, log_dir: Path | None = None):
        self.procs = Processes()
        self.log_dir = log_dir or LOCAL_DIR / "logs"
        self.template = load_template(self.TEMPLATE)
        self.cfn = Evaluator(self.template, STACK_NAME, parameters)
        self.moto_port = 0
        self.watch_ports: dict[str, int] = {}  # binary -> invoke port of its cargo lambda watch
        self.provisioned: list[str] = []
        self.skipped: list[str] = []
        # The harness's own credentials: moto's dummy ones, then the admin user's (enforce_iam).
        self.credentials = ("testing", "testing")
        # binary -> {"logical", "user", "arn", "key", "secret", "actions", "policy"} (enforce_iam)
        self.principals: dict[str, dict] = {}
        self.iam_enforced = False
        self._iam_offset = 0  # where findings start in the IAM decision log
        self._acknowledged: dict[str, int] = {}  # log positions up to which denials were expected

    # ------------------------------------------------------------------ moto
    def start_moto(self) -> str:
        # moto plus the EMR actions it lacks (instance fleets, managed scaling): scripts/stack/moto_ext.py
        exe = VENV / "bin" / "python"
        if not (VENV / "bin" / "moto_server").exists():
            raise SystemExit(f"moto is not installed in {VENV}: run `make setup` first")
        self.moto_port = free_port()
        self.iam_log.parent.mkdir(parents=True, exist_ok=True)
        self.iam_log.write_text("")
        env = dict(os.environ, STREAMOPS_MOTO_IAM_LOG=str(self.iam_log))
        proc = self.procs.start("moto", [str(exe), "-m", "scripts.stack.moto_ext", "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                self.log_dir / "moto.log", env=env)
        wait_for_port(self.moto_port, 30, proc, "moto_server")
        return self.endpoint

    @property
    def iam_log(self) -> Path:
        """moto's authorization decisions, one JSON line each (scripts/stack/moto_ext.py)."""
        return self.log_dir / "iam-decisions.jsonl"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def client(self, service: str, credentials: tuple[str, str] | None = None):
        key, secret = credentials or self.credentials
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=key, aws_secret_access_key=secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    # ------------------------------------------------------------------ IAM
    def enforce_iam(self) -> None:
        """Switches moto's IAM enforcement on, after provisioning. Before that it creates an admin
        user (the harness's clients use its keys from then on) and one user per function whose
        inline policy is exactly the function's execution role as `sam deploy` would create it
        (scripts/stack/iam.py: SAM-translated template, read now, so the principals follow
        template.yaml). Resources are kept for S3 and SQS, the services moto checks them for;
        every other grant is on "*" (moto checks those only against "*")."""
        from .sam import translate

        translated = translate(self.TEMPLATE)
        iam = self.client("iam")

        def user(name: str, policy: dict) -> tuple[str, str, str]:
            arn = iam.create_user(UserName=name)["User"]["Arn"]
            iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
            k = iam.create_access_key(UserName=name)["AccessKey"]
            return arn, k["AccessKeyId"], k["SecretAccessKey"]

        admin = user(f"{STACK_NAME}-harness-admin",
                     {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        for logical, f in self.cfn.functions().items():
            statements = iam_model.role_statements(translated, logical, self.cfn.params, self.cfn.actual, with_resources=True)
            policy = iam_model.principal_policy(statements)
            arn, key, secret = user(f"{STACK_NAME}-fn-{f['binary']}", policy)
            self.principals[f["binary"]] = {
                "logical": logical, "user": arn.rsplit("/", 1)[1], "arn": arn, "key": key, "secret": secret,
                "actions": {a for st in statements if st["Effect"] == "Allow" for a in st["Action"]},
                "policy": policy,
            }
        (self.log_dir / "principals.json").write_text(json.dumps(
            {b: {"user": p["user"], "role_actions": sorted(p["actions"]), "policy": p["policy"]} for b, p in self.principals.items()},
            indent=1))
        self.credentials = admin[1], admin[2]
        # The operator the streamops CLI reads as (docs/cli.md): it checks a checkpoints
        # pipeline against the book before sending a command, with read access and no more.
        operator = user(f"{STACK_NAME}-operator", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:Query", "dynamodb:Scan"], "Resource": "*"}]})
        self.operator_credentials = operator[1], operator[2]
        import urllib.request

        # moto reads INITIAL_NO_AUTH_ACTION_COUNT per request; this sets it to 0 at run time
        # (moto_api reset_auth_response). Not form-encoded: moto reads the raw body.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                       headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(reset, timeout=10) as r:
            r.read()
        self.iam_enforced = True
        # Enforcement is really on: a function's principal may not read IAM.
        some = next(iter(self.principals.values()), None)
        if some is not None:
            try:
                self.client("iam", (some["key"], some["secret"])).get_user()
            except ClientError as e:
                if e.response["Error"]["Code"] not in ("AccessDenied", "AccessDeniedException"):
                    raise
            else:
                raise RuntimeError("moto did not enforce IAM after /moto-api/reset-auth")
            # The probe's denial is the harness's own, not a finding: findings start after it.
            self._iam_offset = self._file_size(self.iam_log)

    def log_marks(self) -> dict[str, int]:
        """Where each log ends now: denials_since(marks) reads only what comes after."""
        marks = {str(self.iam_log): max(self._file_size(self.iam_log), self._iam_offset)}
        for binary in self.watch_ports:
            marks[str(self.watch_log(binary))] = self._file_size(self.watch_log(binary))
        return marks

    @staticmethod
    def _file_size(p: Path) -> int:
        try:
            return p.stat().st_size
        except FileNotFoundError:
            return 0

    @staticmethod
    def _read_from(p: Path, offset: int) -> str:
        try:
            with open(p, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def denials_since(self, marks: dict[str, int] | None = None) -> list[Denial]:
        """Every refused call since `marks` (default: since IAM was enforced): moto's denials by
        principal and action, and every function log line that reads like one."""
        marks = dict(marks or {})
        for f, pos in self._acknowledged.items():
            marks[f] = max(marks.get(f, 0), pos)
        by_arn = {p["arn"]: b for b, p in self.principals.items()}
        out: list[Denial] = []
        start = max(marks.get(str(self.iam_log), 0), self._iam_offset)
        for line in self._read_from(self.iam_log, start).splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if d["decision"] != "allow":
                who = by_arn.get(d.get("principal") or "", d.get("principal") or "unknown principal")
                out.append(Denial(who, d["decision"], d.get("action"), d.get("resource")))
        for binary in self.watch_ports:
            log = self.watch_log(binary)
            for line in self._read_from(log, marks.get(str(log), 0)).splitlines():
                if DENIAL_IN_LOG.search(line):
                    out.append(Denial(binary, "log", line=line.strip()))
        return out

    def acknowledge_denials(self, since: dict[str, int] | None = None) -> list[Denial]:
        """For a test that provokes a denial on purpose: returns the denials since `since` (a
        log_marks() taken before provoking it) and keeps everything up to now out of later
        denials_since() answers."""
        time.sleep(0.05)  # function log lines written just before the response
        denials = self.denials_since(since)
        self._acknowledged = self.log_marks()
        return denials

    def actions_used(self) -> dict[str, set[str]]:
        """binary -> the actions moto allowed its principal (as moto names them)."""
        by_arn = {p["arn"]: b for b, p in self.principals.items()}
        used: dict[str, set[str]] = {b: set() for b in self.principals}
        for line in self._read_from(self.iam_log, 0).splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if d["decision"] == "allow" and d.get("principal") in by_arn:
                used[by_arn[d["principal"]]].add(d["action"])
        return used

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
    def template_env(self, binary: str) -> dict[str, str]:
        """One function's variables as the template sets them (what Lambda holds for it)."""
        f = next((f for f in self.cfn.functions().values() if f["binary"] == binary), None)
        if f is None:
            raise KeyError(f"no enabled function with binary {binary!r} in the template")
        return dict(f["env"])

    def function_env(self, binary: str) -> dict[str, str]:
        """One function's environment: its own from the template (nothing of the others'), the
        local endpoint, and its principal's keys once IAM is enforced."""
        env = self.template_env(binary)
        env.update(LOCAL_ENV)
        env["AWS_ENDPOINT_URL"] = self.endpoint
        if binary in self.principals:
            env["AWS_ACCESS_KEY_ID"] = self.principals[binary]["key"]
            env["AWS_SECRET_ACCESS_KEY"] = self.principals[binary]["secret"]
        return env

    def watch_log(self, binary: str) -> Path:
        return self.log_dir / f"watch-{binary}.log"

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

    def start_functions(self, cargo_env: dict | None = None, only: list[str] | None = None) -> None:
        """One `cargo lambda watch` per function binary (its own invoke port, environment and
        credentials), all serving from the one build in CARGO_TARGET_DIR; `only` some of them."""
        binaries = [f["binary"] for f in self.cfn.functions().values() if only is None or f["binary"] in only]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # nothing of a real AWS setup
        env.update(cargo_env or {})
        env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '')}"
        env_dir = self.log_dir / "env"
        env_dir.mkdir(parents=True, exist_ok=True)
        started = []
        for binary in binaries:
            env_file = env_dir / f"{binary}.env"
            env_file.write_text("".join(f"{k}='{v}'\n" for k, v in sorted(self.function_env(binary).items())))
            port = free_port()
            args = [str(VENV / "bin" / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "--bin", binary,
                    "--invoke-address", "127.0.0.1", "--invoke-port", str(port), "--env-file", str(env_file)]
            proc = self.procs.start(f"cargo lambda watch {binary}", args, self.watch_log(binary), env=env)
            self.watch_ports[binary] = port
            started.append((binary, port, proc))
        for binary, port, proc in started:
            wait_for_port(port, 120, proc, f"cargo lambda watch ({binary})")
        # Where the streamops CLI finds the functions (`streamops --local FILE`, docs/cli.md).
        self.endpoints_file.write_text(json.dumps(
            {b: f"http://127.0.0.1:{p}" for b, p in sorted(self.watch_ports.items())}, indent=1))
        # And their configuration: `cargo lambda watch` serves no GetFunctionConfiguration, so
        # the CLI reads what a deployed function's would return, its variables from the template
        # (not the local endpoint and keys added above).
        self.environment_file.write_text(json.dumps(
            {b: self.template_env(b) for b in sorted(self.watch_ports)}, indent=1, sort_keys=True))
        # And the AWS the CLI may read directly (the checkpoints book), as the operator.
        key, secret = getattr(self, "operator_credentials", None) or self.credentials
        (self.log_dir / "moto.json").write_text(json.dumps(
            {"endpoint_url": self.endpoint, "access_key_id": key, "secret_access_key": secret}, indent=1))

    @property
    def environment_file(self) -> Path:
        """binary -> its environment variables from the template, beside the endpoints file."""
        return self.log_dir / "environment.json"

    @property
    def endpoints_file(self) -> Path:
        """binary -> the URL of its `cargo lambda watch` (the Lambda Invoke API), for the CLI."""
        return self.log_dir / "endpoints.json"

    def invoke(self, binary: str, payload: dict | str | bytes, timeout: float = 300) -> tuple[bool, object]:
        """`cargo lambda invoke BINARY` on that binary's watch: returns (ok, parsed response or error text)."""
        if binary not in self.watch_ports:
            raise KeyError(f"{binary!r} is not served; functions: {sorted(self.watch_ports)}")
        data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        if isinstance(data, bytes):
            data = data.decode()
        args = [str(VENV / "bin" / "cargo-lambda"), "lambda", "invoke", binary, "--invoke-address", "127.0.0.1",
                "--invoke-port", str(self.watch_ports[binary]), "--output-format", "json"]
        if len(data) > 64 * 1024:  # more than a command line should carry
            path = self.log_dir / "env" / f"{binary}-payload.json"
            path.write_text(data)
            args += ["--data-file", str(path)]
        else:
            args += ["--data-ascii", data]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
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
