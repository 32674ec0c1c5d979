"""Flink as the checkpoints soak sees it: jobs writing checkpoints and savepoints into the
checkpoint bucket with Flink's layout (docs/checkpoints.md): `<prefix><job>/chk-<n>/` holding
`_metadata` (magic 0x4960672d, format version 6 as Flink 2.3 writes, the checkpoint id) and
exclusive state files, incremental RocksDB files under `<job>/shared/`, `<job>/taskowned/`,
savepoints in `savepoint-<6 hex of the job>-<12 hex>/`. Flink retains `num-retained`
checkpoints and deletes the one each new checkpoint subsumes (now and then leaving a file
behind, as a failed discard does); a checkpoint that timed out leaves files but no `_metadata`.

Every `_metadata` written or deleted yields the EventBridge event S3 sends (the shape of
events/checkpoints/eventbridge-savepoint-created.json), timed by the object's LastModified as
S3 times it. The writer keeps the truth: every point, its files, whether Flink still has it."""

from __future__ import annotations

import json
import random
import struct
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .world import ROOT

MAGIC = 0x4960672D
FORMAT_VERSION = 6
CP_PREFIX, SP_PREFIX = "flink/checkpoints/", "flink/savepoints/"
RETAINED = 2  # execution.checkpointing.num-retained
EVENT = json.loads((ROOT / "events" / "checkpoints" / "eventbridge-savepoint-created.json").read_text())


def metadata(checkpoint_id: int, job: str) -> bytes:
    """The start of a `_metadata` as Flink writes it, then state handles naming files."""
    handles = f"org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle {job} ".encode()
    return struct.pack(">IIQ", MAGIC, FORMAT_VERSION, checkpoint_id) + struct.pack(">I", 1) + handles * 4


@dataclass
class Point:
    job: str
    kind: str            # checkpoint | savepoint
    dir: str
    checkpoint_id: int
    files: list[str]
    completed: datetime  # LastModified of its _metadata
    corrupt: bool = False
    subsumed: bool = False  # Flink deleted its _metadata
    pinned: bool = False

    @property
    def metadata_key(self) -> str:
        return self.dir + "_metadata"

    @property
    def restorable(self) -> bool:
        return not self.corrupt and not self.subsumed


@dataclass
class Job:
    id: str
    pipeline: str              # its registered pipeline, or its own id
    registered: bool
    next_id: int = 1
    retained: list[Point] = field(default_factory=list)
    running: bool = True
    restored_from: str | None = None
    restore_mode: str | None = None


class Flink:
    def __init__(self, s3, bucket: str, rng: random.Random):
        self.s3, self.bucket, self.rng = s3, bucket, rng
        self.jobs: list[Job] = []
        self.points: dict[str, Point] = {}      # dir -> point
        self.orphans: list[str] = []            # dirs of timed-out checkpoints
        self.leftovers: dict[str, list[str]] = {}  # dir of a subsumed point -> files left
        self.protected: set[str] = set()        # shared/ and taskowned/ keys
        self.events: list[dict] = []            # every event S3 sent, in the order it sent them

    def job(self, pipeline: str | None = None) -> Job:
        jid = "%032x" % self.rng.getrandbits(128)
        j = Job(jid, pipeline or jid, pipeline is not None)
        self.jobs.append(j)
        return j

    # ------------------------------------------------------------------ objects and events
    def _put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def event(self, kind: str, key: str, when: datetime, size: int | None = None, etag: str | None = None) -> None:
        e = json.loads(json.dumps(EVENT))
        e.update(id=str(uuid.UUID(int=self.rng.getrandbits(128))), time=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 resources=[f"arn:aws:s3:::{self.bucket}"])
        d = e["detail"]
        d["bucket"]["name"] = self.bucket
        d["object"] = {"key": key, "sequencer": "%018X" % self.rng.getrandbits(72)}
        d["request-id"] = "%016X" % self.rng.getrandbits(64)
        if kind == "created":
            e["detail-type"] = "Object Created"
            d["object"].update(size=size, etag=etag)
            d["reason"] = "PutObject"
        else:
            # The template's bucket is versioned: a delete leaves a delete marker.
            e["detail-type"] = "Object Deleted"
            d["object"]["version-id"] = uuid.UUID(int=self.rng.getrandbits(128)).hex
            d.update(reason="DeleteObject", **{"deletion-type": "Delete Marker Created"})
        self.events.append(e)

    def _complete(self, p: Point, body: bytes) -> None:
        """Writes the point's files, its `_metadata` last, and sends the event."""
        for k in p.files:
            if not k.endswith("/_metadata"):
                self._put(k, b"\x00state" * self.rng.randint(4, 40))
        self._put(p.metadata_key, body)
        head = self.s3.head_object(Bucket=self.bucket, Key=p.metadata_key)
        p.completed = head["LastModified"].astimezone(timezone.utc)
        self.points[p.dir] = p
        self.event("created", p.metadata_key, p.completed, head["ContentLength"], head["ETag"].strip('"'))

    # ------------------------------------------------------------------ what a job does
    def checkpoint(self, j: Job, corrupt: bool = False) -> Point:
        n, j.next_id = j.next_id, j.next_id + 1
        d = f"{CP_PREFIX}{j.id}/chk-{n}/"
        p = Point(j.id, "checkpoint", d, n, [d + uuid.UUID(int=self.rng.getrandbits(128)).hex,
                                           d + "_metadata"], datetime.now(timezone.utc), corrupt=corrupt)
        for area in ("shared", "taskowned"):  # incremental state, Flink's to reference-count
            k = f"{CP_PREFIX}{j.id}/{area}/{uuid.UUID(int=self.rng.getrandbits(128)).hex}"
            self._put(k, b"sst" * 16)
            self.protected.add(k)
        body = metadata(n, j.id) if not corrupt else self.rng.choice([b"", b"PK\x03\x04 not flink metadata"])
        self._complete(p, body)
        j.retained.append(p)
        while len(j.retained) > RETAINED:
            self._subsume(j.retained.pop(0))
        return p

    def _subsume(self, p: Point) -> None:
        """Flink discards a subsumed checkpoint; a failed discard leaves a file behind."""
        keep = [k for k in p.files if not k.endswith("/_metadata") and self.rng.random() < 0.3]
        for k in p.files:
            if k not in keep:
                self.s3.delete_object(Bucket=self.bucket, Key=k)
        p.subsumed = True
        if keep:
            self.leftovers[p.dir] = keep
        self.event("deleted", p.metadata_key, datetime.now(timezone.utc))

    def savepoint(self, j: Job) -> Point:
        n, j.next_id = j.next_id, j.next_id + 1
        d = f"{SP_PREFIX}savepoint-{j.id[:6]}-{self.rng.getrandbits(48):012x}/"
        files = [d + uuid.UUID(int=self.rng.getrandbits(128)).hex for _ in range(2)] + [d + "_metadata"]
        p = Point(j.id, "savepoint", d, n, files, datetime.now(timezone.utc))
        self._complete(p, metadata(n, j.id))
        return p

    def time_out(self, j: Job) -> None:
        """A checkpoint that never completed: its files stay, no `_metadata`."""
        n, j.next_id = j.next_id, j.next_id + 1
        d = f"{CP_PREFIX}{j.id}/chk-{n}/"
        self._put(d + uuid.UUID(int=self.rng.getrandbits(128)).hex, b"partial")
        self.orphans.append(d)

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    @staticmethod
    def next_second() -> None:
        """S3 times objects in whole seconds: a job's points must never share one."""
        time.sleep(1.0 - time.time() % 1.0 + 0.02)

    def tick(self) -> None:
        """One second of the cluster: each running job does one thing."""
        self.next_second()
        for j in [j for j in self.jobs if j.running]:
            roll = self.rng.random()
            if roll < 0.72:
                self.checkpoint(j)
            elif roll < 0.84:
                self.savepoint(j)
            elif roll < 0.94:
                self.time_out(j)
            else:
                self.checkpoint(j, corrupt=True)

    def location(self, p: Point) -> str:
        return f"s3://{self.bucket}/{p.dir}"

    def keys(self) -> set[str]:
        out, token = set(), None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": "flink/"} | ({"ContinuationToken": token} if token else {})
            page = self.s3.list_objects_v2(**kw)
            out |= {o["Key"] for o in page.get("Contents", [])}
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]
