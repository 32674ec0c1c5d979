"""The checkpoints book read straight from DynamoDB (the key layout of
shared/src/book_keys.rs), compared with the bucket and with what Flink did (flink_writer), and
what a prune must keep (docs/checkpoints.md, "Retention")."""

from __future__ import annotations

from boto3.dynamodb.types import TypeDeserializer

from .flink_writer import Flink, Job, Point

_DESER = TypeDeserializer()


def sk_of(p: Point) -> str:
    if p.kind == "checkpoint":
        return f"POINT#C#{p.checkpoint_id:020d}"
    return "POINT#S#" + p.dir.rstrip("/").rsplit("/", 1)[-1]


class Book:
    def __init__(self, ddb, table: str):
        self.ddb, self.table = ddb, table

    def items(self, pk: str) -> list[dict]:
        out, start = [], None
        while True:
            kw = {"TableName": self.table, "KeyConditionExpression": "pk = :pk",
                  "ExpressionAttributeValues": {":pk": {"S": pk}}, "ConsistentRead": True}
            page = self.ddb.query(**kw, **({"ExclusiveStartKey": start} if start else {}))
            out += [{k: _DESER.deserialize(v) for k, v in i.items()} for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return out

    def points(self, job: str) -> dict[str, dict]:
        return {i["sk"]: i for i in self.items(f"JOB#{job}") if i["sk"].startswith("POINT#")}

    def pointer(self, pk: str) -> dict | None:
        return next((i for i in self.items(pk) if i["sk"] == "LATEST"), None)

    def half_pruned(self, pipeline: str, jobs: list[Job]) -> bool:
        return any(r.get("status") == "pruning" for j in jobs if j.pipeline == pipeline
                   for r in self.points(j.id).values())

    def effective_latest(self, pk: str, records: dict[str, dict]) -> str | None:
        """What `latest` answers from these items: the pointer while it names a restorable
        point, else the newest restorable point (docs/checkpoints.md, Guarantees)."""
        ptr = self.pointer(pk)
        if ptr is not None and records.get((ptr["job_id"], ptr["point_sk"]), {}).get("status") == "restorable":
            return ptr["location"]
        restorable = [r for r in records.values() if r.get("status") == "restorable"]
        return max(restorable, key=lambda r: int(r["order"]))["location"] if restorable else None

    def still_prunable(self, flink: Flink, jobs: list[Job], keys: set[str], need: list) -> list[str]:
        """Savepoints the policy lets go that are still in the bucket (not a loss: unfinished work)."""
        kept = {p.dir for p, _ in need}
        return [p.dir for j in jobs for p in flink.points.values()
                if p.job == j.id and p.kind == "savepoint" and p.dir not in kept and p.metadata_key in keys]


def _point_ok(p: Point, rec: dict | None, alive: bool, location: str) -> bool:
    if alive and p.corrupt:
        return rec is not None and rec.get("status") == "corrupt"
    if alive:
        return (rec is not None and rec.get("status") == "restorable" and rec.get("location") == location
                and int(rec.get("checkpoint_id", -1)) == p.checkpoint_id)
    # Gone from the bucket (Flink subsumed it, or a prune deleted it): never offered again. A
    # corrupt point stays corrupt (kept for investigation, never offered either).
    return rec is None or rec.get("status") in ("subsumed", "pruned") or (p.corrupt and rec.get("status") == "corrupt")


def _truth_latest(points: list[Point], keys: set[str], flink: Flink) -> str | None:
    alive = [p for p in points if p.metadata_key in keys and not p.corrupt]
    return flink.location(max(alive, key=lambda p: p.completed)) if alive else None


def book_mismatches(flink: Flink, book: Book, jobs: list[Job], keys: set[str]) -> tuple[int, list, list]:
    """(points booked as the bucket has them, mismatches, book entries for no point)."""
    good, bad, phantoms = 0, [], []
    by_scope: dict[str, dict] = {}
    for j in jobs:
        booked = book.points(j.id)
        records = dict(booked)
        by_scope.setdefault(f"PIPELINE#{j.pipeline}", {}).update({(j.id, sk): r for sk, r in records.items()})
        mine = [p for p in flink.points.values() if p.job == j.id]
        for p in mine:
            rec = records.pop(sk_of(p), None)
            if _point_ok(p, rec, p.metadata_key in keys, flink.location(p)):
                good += 1
            else:
                state = ("in the bucket" if p.metadata_key in keys else "gone") + (", corrupt" if p.corrupt else "")
                bad.append(f"{p.dir} ({state}) booked as {rec and rec.get('status')}")
        phantoms += [f"no such point: JOB#{j.id} {sk} {r.get('status')}" for sk, r in records.items()]
        phantoms += [f"savepoint under an unresolved job: {r.get('location')}"
                     for r in book.points(f"unresolved-{j.id[:6]}").values()]
        scoped = {(j.id, sk): r for sk, r in booked.items()}
        want, got = _truth_latest(mine, keys, flink), book.effective_latest(f"JOB#{j.id}", scoped)
        if want != got:
            bad.append(f"latest of job {j.id}: book {got}, bucket {want}")
    for pipeline in sorted({j.pipeline for j in jobs}):
        mine = [p for p in flink.points.values() if any(j.id == p.job and j.pipeline == pipeline for j in jobs)]
        want = _truth_latest(mine, keys, flink)
        got = book.effective_latest(f"PIPELINE#{pipeline}", by_scope.get(f"PIPELINE#{pipeline}", {}))
        if want != got:
            bad.append(f"latest of pipeline {pipeline}: book {got}, bucket {want}")
    return good, bad, phantoms


def needed(flink: Flink, jobs: list[Job], keys: set[str], keep_savepoints: int) -> list[tuple[Point, str]]:
    """Every point a prune must keep, with why: the latest restorable of each job and
    pipeline, every checkpoint Flink still retains, corrupt ones, pinned ones, restore
    sources (and under LEGACY every checkpoint of the source's job), the newest savepoints."""
    alive = [p for p in flink.points.values() if p.metadata_key in keys and any(j.id == p.job for j in jobs)]
    need: dict[str, str] = {}
    pipeline_of = {j.id: j.pipeline for j in jobs}
    sources = {j.restored_from: j.restore_mode for j in jobs if j.restored_from}
    legacy_jobs = {p.job for p in alive if sources.get(flink.location(p)) == "LEGACY"}
    for scope in list({p.job for p in alive}) + list(set(pipeline_of.values())):
        group = [p for p in alive if not p.corrupt and scope in (p.job, pipeline_of[p.job])]
        if group:
            need.setdefault(max(group, key=lambda p: p.completed).dir, "latest restorable")
    for pipeline in set(pipeline_of.values()):
        sps = sorted((p for p in alive if p.kind == "savepoint" and pipeline_of[p.job] == pipeline),
                     key=lambda p: p.completed, reverse=True)
        for p in sps[:keep_savepoints]:
            need.setdefault(p.dir, "among the newest savepoints")
    for p in alive:
        why = ("corrupt, kept" if p.corrupt else "retained by Flink" if p.kind == "checkpoint" else
               "pinned" if p.pinned else "restore source" if flink.location(p) in sources else
               "LEGACY dependency" if p.job in legacy_jobs and p.kind == "checkpoint" else None)
        if why:
            need.setdefault(p.dir, why)
    return [(flink.points[d], why) for d, why in need.items()]
