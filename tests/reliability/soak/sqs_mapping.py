"""The SQS event source mapping of the partitions function, as the template sets it up
(PartitionsQueueMapping: BatchSize 1000, ReportBatchItemFailures, MaximumConcurrency 2; the
queue's redrive to PartitionsDeadLetterQueue after 5 receives), over the real queue in moto.

What Lambda's poller does, and so what this does:
- a poller receives up to BatchSize messages (the batching window ends early when the queue
  is empty) and invokes the function with them in the Lambda SQS event shape;
- an answer deletes every message except those named in `batchItemFailures`; an answer naming
  an id that is not in the batch, a function error, a crash or a timeout deletes none;
- what is not deleted comes back when its visibility timeout runs out, and after the 5th
  receive SQS moves it to the dead-letter queue (moto applies the redrive policy).

Time is compressed, keeping the relations that decide outcomes. The template's visibility
timeout (720 s) is six times the function's timeout (120 s) and far longer than a registry
claim a crashed invocation leaves behind (its deadline plus 60 s, docs/partitions.md): each of
the 5 receives before the dead-letter queue is a fresh chance. The soak runs the function with
a short timeout and a visibility timeout that still outlasts an invocation (a message never
comes back while its invocation runs), but not a stranded claim; so the redrive threshold is
scaled by the same factor (`max_receives`): a message gets 5 chances that find an expired
claim, as with the real timing, no more. The 20 s batching window is
compressed too (`window_s`).
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from .traced_lambda import TracedSandbox

ARN = "arn:aws:sqs:us-east-1:123456789012:{}"


@dataclass
class Invocation:
    request_id: str
    kind: str
    messages: int
    failed: int
    started: float
    ended: float


@dataclass
class Mapping:
    """One event source mapping: its pollers, and what they did."""
    sqs: object
    queue_url: str
    sandboxes: list[TracedSandbox]
    timeout_s: float
    batch_size: int = 1000
    window_s: float = 4.0
    crash_rate: float = 0.0
    max_crashes: int = 0
    seed: int = 7
    invocations: list[Invocation] = field(default_factory=list)
    receives: int = 0
    redeliveries: int = 0
    crashes_planned: int = 0
    # The pollers stopped at the run's time budget, not on an empty queue (the row then counts
    # what was still queued as lost, and says so).
    budget_exhausted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch(self) -> list[dict]:
        """Up to batch_size visible messages (what one poll with its batching window gathers)."""
        got: list[dict] = []
        first = 0.0
        while len(got) < self.batch_size:
            msgs = self.receive()
            if msgs:
                first = first or time.monotonic()
                got += msgs
            elif not got:
                break
            if time.monotonic() - first > self.window_s:
                break
            if len(msgs) < 10:
                time.sleep(0.2)  # the batching window: wait for more before invoking
        with self.lock:
            self.receives += len(got)
            self.redeliveries += sum(1 for m in got if int(m["Attributes"].get("ApproximateReceiveCount", "1")) > 1)
        return got

    def receive(self) -> list[dict]:
        """One ReceiveMessage; an error of the queue itself (moto, loaded, sometimes answers 500)
        is retried, as Lambda's poller does."""
        for attempt in range(5):
            try:
                return self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                                AttributeNames=["All"]).get("Messages", [])
            except ClientError:
                time.sleep(0.5 * (attempt + 1))
        return []

    def event(self, msgs: list[dict]) -> dict:
        name = self.queue_url.rsplit("/", 1)[1]
        return {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": {k: m["Attributes"][k] for k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                                            "ApproximateFirstReceiveTimestamp") if k in m["Attributes"]},
            "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
            "eventSourceARN": ARN.format(name), "awsRegion": "us-east-1"} for m in msgs]}

    def deliver(self, box: TracedSandbox, msgs: list[dict], rng: random.Random) -> None:
        with self.lock:
            crash = rng.random() < self.crash_rate and self.crashes_planned < self.max_crashes
            self.crashes_planned += crash
        # A random point inside the invocation: a batch takes a second or two.
        kill = rng.uniform(0.05, 2.0) if crash else None
        started = time.monotonic()
        request_id, out = box.invoke_as(None, self.event(msgs), timeout_s=self.timeout_s, kill_after_s=kill)
        ids = {m["MessageId"] for m in msgs}
        failed = ids
        if out.ok and isinstance(out.payload, dict):
            named = {f.get("itemIdentifier") for f in out.payload.get("batchItemFailures") or []}
            # Lambda fails the whole batch when the response names a message it did not send.
            failed = named if named <= ids else ids
        done = [m for m in msgs if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(done[i:i + 10])])
        with self.lock:
            self.invocations.append(Invocation(request_id, out.kind, len(msgs), len(failed), started, time.monotonic()))

    def poll(self, box: TracedSandbox, producing: threading.Event, deadline: float, rng: random.Random) -> None:
        """One poller: batches until the producer is done and the queue holds nothing at all."""
        while time.monotonic() < deadline:
            msgs = self.batch()
            if msgs:
                self.deliver(box, msgs, rng)
                continue
            if not producing.is_set() and self.empty():
                return
            time.sleep(0.3)

    def empty(self) -> bool:
        a = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) == 0

    def run(self, producing: threading.Event, budget_s: float) -> None:
        deadline = time.monotonic() + budget_s
        errors: list[BaseException] = []

        def poller(box: TracedSandbox, rng: random.Random) -> None:
            try:
                self.poll(box, producing, deadline, rng)
            except BaseException as e:  # a broken harness must fail the row, not hang it
                errors.append(e)

        threads = [threading.Thread(target=poller, args=(b, random.Random(self.seed * 31 + i)))
                   for i, b in enumerate(self.sandboxes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        self.budget_exhausted = time.monotonic() >= deadline


def max_receives(timeout_s: float, visibility_s: float, claim_margin_s: float = 62, template: int = 5) -> int:
    """The redrive threshold scaled with the visibility timeout (see the module docs): each of the
    template's receives stands for as many compressed ones as a stranded claim can cost."""
    return template * math.ceil((timeout_s + claim_margin_s) / visibility_s)


def configure_queue(sqs, queue_url: str, dlq_url: str, visibility_s: int, max_receives: int) -> None:
    """The template's redrive policy (LocalStack creates queues bare), with the compressed timings."""
    import json

    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={
        "VisibilityTimeout": str(visibility_s),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})})


def dead_letters(sqs, dlq_url: str) -> list[dict]:
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        out += msgs
