"""The emulator fixes the soak runs rely on (scripts/stack/moto_ext.py): without them moto, not
the function under test, would lose records."""

from __future__ import annotations

import threading


def test_concurrent_put_records_keep_every_record(moto):
    kin = moto.client("kinesis")
    kin.create_stream(StreamName="moto-ext-race", ShardCount=4)
    kin.get_waiter("stream_exists").wait(StreamName="moto-ext-race", WaiterConfig={"Delay": 0.2})
    writers, calls, per_call = 4, 10, 250

    def write(w: int) -> None:
        c = moto.client("kinesis")
        for b in range(calls):
            c.put_records(StreamName="moto-ext-race",
                          Records=[{"Data": f"{w}-{b}-{i}".encode(), "PartitionKey": f"k{i % 13}"} for i in range(per_call)])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = set()
    for shard in kin.describe_stream(StreamName="moto-ext-race")["StreamDescription"]["Shards"]:
        it = kin.get_shard_iterator(StreamName="moto-ext-race", ShardId=shard["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            got = kin.get_records(ShardIterator=it, Limit=10000)
            seen.update(r["Data"] for r in got["Records"])
            it = got.get("NextShardIterator") if got["Records"] else None
    assert len(seen) == writers * calls * per_call


def test_queue_counts_and_receives_stay_right_with_the_fast_counting(moto):
    sqs = moto.client("sqs")
    url = sqs.create_queue(QueueName="moto-ext-counts", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    for i in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", **({"DelaySeconds": 60} if i < 5 else {}))
    taken = []
    while len(taken) < 25:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        assert got, f"only {len(taken)} of the 25 undelayed messages were received"
        taken += got
    assert len(taken) == 25 and not {m["Body"] for m in taken} & {f"m{i}" for i in range(5)}
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"],
            attrs["ApproximateNumberOfMessagesDelayed"]) == ("0", "25", "5")
    assert not sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages")
