//! The CPU path of the enrich handler, without the network: parse the Lambda event, decode,
//! validate, enrich with a warm reference cache, protect PII, encode, and assemble the
//! PutRecords entries. One thread, like a Lambda with one vCPU.
//!
//!     cargo run --release -p enrich --bin enrich-bench -- [--event FILE | --source kinesis|msk|kpl] [--records N] [--iterations K]
//!
//! Without `--event`, a Kinesis event of N (default 10,000) realistic ~1 KB records is generated.
//! K (default 20) timed iterations: the median is robust to other work on a small machine.
//! With neither `--event` nor `--source`, the JSON batch is followed by the same N records as
//! KPL aggregates (packed to the KPL's default 51,200-byte aggregate), the two run in
//! alternation, and the de-aggregation overhead is reported against the JSON batch of the same
//! run; then the same N records as Glue-framed Avro (`avro.rs`: a cached writer schema, read
//! as itself) and Glue-framed Protobuf (`protobuf.rs`: a cached compiled schema), the JSON,
//! Avro and Protobuf batches in alternation, each against the JSON batch of the same run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::emit::plan_chunks;
use enrich::input::kpl::encode_aggregate;
use enrich::input::{InputRecord, Invocation, parse_invocation};
use enrich::pipeline::{BatchContext, EnrichedRecord, Enricher, Lookup, Stage};
use enrich::service::PIPELINE_CHUNK;
use enrich::spec::{DEFAULT_SPEC, EnrichmentSpec};
use enrich::values::Decoded;
use serde_json::{Map, Value, json};

#[path = "enrich-bench/avro.rs"]
mod avro;
#[path = "enrich-bench/protobuf.rs"]
mod protobuf;

/// What each record's value decodes to, as the service's `decode_values` makes it.
type DecodeFn = dyn Fn(&[InputRecord]) -> Vec<Decoded>;

/// A registry value format's batch of the bench's records, and its decoding as the service's
/// `decode_values` does it once the schema cache is warm.
struct Format {
    name: &'static str,
    title: &'static str,
    event: String,
    decode: Box<DecodeFn>,
}

struct Args {
    event: Option<String>,
    /// The generated event's source; `None`: the JSON batch, then the KPL comparison.
    source: Option<Source>,
    records: usize,
    iterations: usize,
}

/// A generated batch: Kinesis JSON records, MSK (Kafka) records, or the same JSON records as
/// KPL aggregates in Kinesis records.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Kinesis,
    Msk,
    Kpl,
}

const USAGE: &str =
    "usage: enrich-bench [--event FILE | --source kinesis|msk|kpl] [--records N] [--iterations K]";

fn args() -> Result<Args, String> {
    let mut out = Args {
        event: None,
        source: None,
        records: 10_000,
        iterations: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--event" => out.event = Some(value("--event")?),
            "--source" => {
                out.source = Some(match value("--source")?.as_str() {
                    "kinesis" => Source::Kinesis,
                    "msk" => Source::Msk,
                    "kpl" => Source::Kpl,
                    other => return Err(format!("--source: {other:?} is not kinesis, msk or kpl")),
                })
            }
            "--records" => {
                out.records = value("--records")?
                    .parse()
                    .map_err(|e| format!("--records: {e}"))?
            }
            "--iterations" => {
                out.iterations = value("--iterations")?
                    .parse()
                    .map_err(|e| format!("--iterations: {e}"))?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if out.iterations == 0 || out.records == 0 {
        return Err("--records and --iterations must be at least 1".into());
    }
    Ok(out)
}

/// A realistic clickstream event of about 1 KB (the benchmark reports the exact average).
fn record(i: usize) -> Value {
    let event_type = ["page_view", "add_to_cart", "search", "click"][i % 4];
    json!({
        "event_id": format!("evt-{i:08}"),
        "event_type": event_type,
        "user_id": format!("user-{:06}", i % 5000),
        "product_id": format!("p-{}", i % 200),
        "email": format!("customer.{i}@example.com"),
        "ip": format!("203.0.{}.{}", i % 250, (i * 7) % 250),
        "ts": 1_795_425_330_000i64 + i as i64,
        "properties": {
            "path": format!("/catalog/category-{}/product-{}", i % 40, i % 200),
            "referrer": "https://www.example.com/search?q=rust+streaming+books&page=2",
            "user_agent": "Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
            "session_id": format!("sess-{:016x}", i as u64 * 2_654_435_761),
            "viewport": {"w": 1440, "h": 900, "dpr": 2},
            "experiments": ["search-ranking-v3", "checkout-one-page", "recs-carousel-b"],
            "cart": {"items": i % 5, "value_cents": (i % 1000) * 199, "currency": "EUR"},
            "tags": ["organic", "returning", "eu-west", "mobile-web", "newsletter-2026-11"],
            "locale": "en-GB",
            "page_title": format!("Rust for Stream Processing, volume {} - Example Books - Catalog", i % 9),
            "campaign": {"source": "newsletter", "medium": "email", "name": "black-friday-2026", "content": format!("hero-banner-{}", i % 3)},
            "timings_ms": {"dns": 12, "connect": 31, "ttfb": 118 + (i % 40), "dom_ready": 640, "load": 1210},
            "consent": {"analytics": true, "ads": false},
        }
    })
}

/// An MSK batch of the same records over three partitions of one topic, as the Kafka event
/// source mapping delivers it (values and keys base64, timestamps in epoch milliseconds).
fn generated_msk_event(n: usize) -> String {
    let mut out = String::with_capacity(n * 1500);
    out.push_str(r#"{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/streamops/abc","bootstrapServers":"b-1.streamops.kafka.us-east-1.amazonaws.com:9098","records":{"#);
    for partition in 0..3 {
        if partition > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"click-events-{partition}\":["));
        for (k, i) in (partition..n).step_by(3).enumerate() {
            if k > 0 {
                out.push(',');
            }
            let r = json!({
                "topic": "click-events", "partition": partition, "offset": 1_000_000 + i,
                "timestamp": 1_795_425_335_000i64 + (i % 1000) as i64, "timestampType": "CREATE_TIME",
                "key": STANDARD.encode(format!("user-{:06}", i % 5000)),
                "value": STANDARD.encode(record(i).to_string()),
                "headers": [{"source": [119, 101, 98]}]
            });
            out.push_str(&r.to_string());
        }
        out.push(']');
    }
    out.push_str("}}");
    out
}

/// Built record by record into one string, so generating the input does not inflate the peak
/// RSS the benchmark reports.
fn generated_event(n: usize) -> String {
    generated_event_with(n, |i| record(i).to_string().into_bytes())
}

/// A Kinesis event of `n` records whose payloads are `data(i)`.
fn generated_event_with(n: usize, data: impl Fn(usize) -> Vec<u8>) -> String {
    let base = "4965673428901034762918145381730221148927093641";
    let mut out = String::with_capacity(n * 1700);
    out.push_str("{\"Records\":[");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let seq = format!("{base}{i:010}");
        let r = json!({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": format!("user-{:06}", i % 5000),
                        "sequenceNumber": seq, "data": STANDARD.encode(data(i)),
                        // Arrivals over a second, written as Kinesis writes them (shortest
                        // decimal, so .120 arrives as .12).
                        "approximateArrivalTimestamp": 1_795_425_335.0 + (i % 1000) as f64 / 1000.0},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": format!("shardId-000000000000:{seq}"), "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/streamops-enrich", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"
        });
        out.push_str(&r.to_string());
    }
    out.push_str("]}");
    out
}

/// The KPL's default `AggregationMaxSize`: user records are packed until the next would not fit.
const KPL_AGGREGATE_BYTES: usize = 51_200;

/// The same records as [`generated_event`], packed into KPL aggregates as a KPL producer with
/// default settings would (the aggregate's partition key is its first user record's).
fn generated_kpl_event(n: usize) -> String {
    let base = "4965673428901034762918145381730221148927093641";
    let mut out = String::with_capacity(n * 1500);
    out.push_str("{\"Records\":[");
    let (mut aggregates, mut next) = (0usize, 0usize);
    while next < n {
        let mut users: Vec<(String, Vec<u8>)> = Vec::new();
        let mut size = 0;
        while next < n {
            let data = record(next).to_string().into_bytes();
            // Per user record: its data, a partition key table entry at most, and framing.
            let cost = data.len() + 24;
            if !users.is_empty() && size + cost > KPL_AGGREGATE_BYTES {
                break;
            }
            size += cost;
            users.push((format!("user-{:06}", next % 5000), data));
            next += 1;
        }
        let pairs: Vec<(&str, &[u8])> = users.iter().map(|(k, d)| (k.as_str(), &d[..])).collect();
        if aggregates > 0 {
            out.push(',');
        }
        let seq = format!("{base}{aggregates:010}");
        let r = json!({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": users[0].0,
                        "sequenceNumber": seq, "data": STANDARD.encode(encode_aggregate(&pairs)),
                        "approximateArrivalTimestamp": 1_795_425_335.0 + (aggregates % 1000) as f64 / 1000.0},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": format!("shardId-000000000000:{seq}"), "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/streamops-enrich", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"
        });
        out.push_str(&r.to_string());
        aggregates += 1;
    }
    out.push_str("]}");
    out
}

/// Peak resident set size of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What one timed iteration measured and produced.
struct Iteration {
    total: Duration,
    /// Event parse + decode, validate, enrich + encode, PutRecords entries.
    phases: [Duration; 4],
    records: usize,
    entries: usize,
    poison: usize,
    output_bytes: usize,
    payload_bytes: usize,
}

fn main() {
    // As the function does at start-up (see enrich::memory).
    enrich::memory::keep_freed_memory();
    let args = args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let event = load_event(&args);
    let spec = EnrichmentSpec::parse(DEFAULT_SPEC, "specs/clickstream.json").expect("shipped spec");
    let enricher = Enricher::new(spec, Some(b"bench-hmac-key-0123456789abcdef")).expect("enricher");
    let reference = warm_reference();
    let rss_before = peak_rss().unwrap_or(0);
    let runs: Vec<Iteration> = (0..args.iterations)
        .map(|_| iteration(&event, &enricher, &reference))
        .collect();
    report(&args, event.len(), &runs, Some(rss_before));
    if args.event.is_none() && args.source.is_none() {
        kpl_comparison(&args, &event, &enricher, &reference);
        let formats = [avro::batch(&args), protobuf::batch(&args)];
        formats_comparison(&args, &event, &enricher, &reference, &formats);
    }
}

/// The same records as KPL aggregates, in alternation with the JSON batch so both see the same
/// machine; the overhead is the KPL batch's time per user record over the JSON batch's.
fn kpl_comparison(
    args: &Args,
    json_event: &str,
    enricher: &Enricher,
    reference: &HashMap<String, Arc<Map<String, Value>>>,
) {
    let kpl_event = generated_kpl_event(args.records);
    let aggregates = kpl_event.matches("\"sequenceNumber\"").count();
    let (mut json_runs, mut kpl_runs) = (Vec::new(), Vec::new());
    for _ in 0..args.iterations {
        json_runs.push(iteration(json_event, enricher, reference));
        kpl_runs.push(iteration(&kpl_event, enricher, reference));
    }
    println!();
    println!(
        "KPL-aggregated Kinesis batch: the same records in {aggregates} aggregates, in alternation with the JSON batch"
    );
    // The process already held the JSON batch: its peak RSS says nothing of this batch alone.
    report(args, kpl_event.len(), &kpl_runs, None);
    let median = |runs: &[Iteration]| {
        let mut t: Vec<Duration> = runs.iter().map(|r| r.total).collect();
        t.sort();
        t[t.len() / 2]
    };
    let best = |runs: &[Iteration]| runs.iter().map(|r| r.total).min().unwrap_or_default();
    let parse = |runs: &[Iteration]| runs.iter().map(|r| r.phases[0]).min().unwrap_or_default();
    let ratio = |a: Duration, b: Duration| 100.0 * (a.as_secs_f64() / b.as_secs_f64() - 1.0);
    let (jm, km) = (median(&json_runs), median(&kpl_runs));
    let md5 = md5_alone(&kpl_event, args.iterations);
    println!(
        "  KPL overhead    {:+.1}% (median {:.2} vs {:.2} us/record), {:+.1}% (best); event parse + decode + de-aggregation {:+.1}% (fastest); target under +10%",
        ratio(km, jm),
        km.as_secs_f64() * 1e6 / args.records as f64,
        jm.as_secs_f64() * 1e6 / args.records as f64,
        ratio(best(&kpl_runs), best(&json_runs)),
        ratio(parse(&kpl_runs), parse(&json_runs)),
    );
    println!(
        "  of which MD5    {:.2} us/record: the trailer check alone over the same aggregates (fastest of {})",
        md5.as_secs_f64() * 1e6 / args.records as f64,
        args.iterations
    );
}

/// The same records in each registry format, every iteration running the JSON batch and then
/// each format's, so all see the same machine.
fn formats_comparison(
    args: &Args,
    json_event: &str,
    enricher: &Enricher,
    reference: &HashMap<String, Arc<Map<String, Value>>>,
    formats: &[Format],
) {
    let mut json_runs = Vec::new();
    let mut runs: Vec<Vec<Iteration>> = formats.iter().map(|_| Vec::new()).collect();
    for _ in 0..args.iterations {
        json_runs.push(iteration(json_event, enricher, reference));
        for (f, runs) in formats.iter().zip(&mut runs) {
            runs.push(iteration_decoding(
                &f.event, enricher, reference, &*f.decode,
            ));
        }
    }
    let rates = |runs: &[Iteration]| {
        let mut r: Vec<f64> = runs
            .iter()
            .map(|i| i.records as f64 / i.total.as_secs_f64())
            .collect();
        r.sort_by(f64::total_cmp);
        (r[0], r[r.len() / 2], r[r.len() - 1])
    };
    let (jl, jm, jh) = rates(&json_runs);
    for (f, runs) in formats.iter().zip(&runs) {
        println!();
        println!(
            "{}: the same records, schema cached, in alternation with the JSON batch",
            f.title
        );
        report(args, f.event.len(), runs, None);
        let (l, m, h) = rates(runs);
        println!(
            "  records/s       {} {l:.0} .. {h:.0} (median {m:.0}); JSON {jl:.0} .. {jh:.0} (median {jm:.0}); target {} >= 150000",
            f.name, f.name
        );
    }
}

/// The MD5 check by itself over every aggregate of the event: the share of the overhead that
/// verifying the trailer costs, whatever the reader does.
fn md5_alone(kpl_event: &str, iterations: usize) -> Duration {
    use md5::{Digest, Md5};
    let event: Value = serde_json::from_str(kpl_event).expect("the generated event");
    let aggregates: Vec<Vec<u8>> = event["Records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            STANDARD
                .decode(r["kinesis"]["data"].as_str().expect("data"))
                .expect("base64")
        })
        .collect();
    (0..iterations)
        .map(|_| {
            let t = Instant::now();
            for a in &aggregates {
                std::hint::black_box(Md5::digest(&a[4..a.len() - 16]));
            }
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn load_event(args: &Args) -> String {
    match &args.event {
        Some(path) => std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2)
        }),
        None => match args.source {
            Some(Source::Msk) => generated_msk_event(args.records),
            Some(Source::Kpl) => generated_kpl_event(args.records),
            Some(Source::Kinesis) | None => generated_event(args.records),
        },
    }
}

/// The warm cache: every product the generator uses, as the service's cache would hold it.
fn warm_reference() -> HashMap<String, Arc<Map<String, Value>>> {
    (0..200)
        .map(|i| {
            let attrs = json!({"category": format!("cat-{}", i % 12), "brand": "acme", "price_band": i % 5});
            (format!("p-{i}"), Arc::new(attrs.as_object().unwrap().clone()))
        })
        .collect()
}

/// One timed pass over the event, in the service's order of work.
fn iteration(
    event: &str,
    enricher: &Enricher,
    reference: &HashMap<String, Arc<Map<String, Value>>>,
) -> Iteration {
    iteration_decoding(event, enricher, reference, &|_| Vec::new())
}

/// [`iteration`] with the value format's decoding (`decode`: what each record's value becomes,
/// as the service's `decode_values` makes it), timed with the event's parse.
fn iteration_decoding(
    event: &str,
    enricher: &Enricher,
    reference: &HashMap<String, Arc<Map<String, Value>>>,
    decode: &DecodeFn,
) -> Iteration {
    let start = Instant::now();
    let Invocation::Stream(batch) = parse_invocation(event).expect("a stream event") else {
        eprintln!("the event is an ops command, not a batch");
        std::process::exit(2);
    };
    let decoded = decode(&batch.records);
    let t_parse = start.elapsed();
    // The service's order of work: chunk by chunk, prepare then finish.
    let ctx = BatchContext::new(chrono::Utc::now());
    let mut stages = Vec::with_capacity(batch.records.len());
    let (mut prepare_time, mut finish_time) = (Duration::ZERO, Duration::ZERO);
    for (i, chunk) in batch.records.chunks(PIPELINE_CHUNK).enumerate() {
        let t = Instant::now();
        let start = (i * PIPELINE_CHUNK).min(decoded.len());
        let end = (start + PIPELINE_CHUNK).min(decoded.len());
        let prepared = enricher.prepare_batch(chunk, &decoded[start..end], |_| false);
        prepare_time += t.elapsed();
        let t = Instant::now();
        stages.extend(enricher.finish_batch(
            chunk,
            prepared,
            |k| {
                reference
                    .get(k)
                    .map_or(Lookup::Missing, |a| Lookup::Found(a.clone()))
            },
            &ctx,
        ));
        finish_time += t.elapsed();
    }
    let t_prepare = t_parse + prepare_time;
    let t_finish = t_prepare + finish_time;
    let enriched: Vec<&EnrichedRecord> = stages
        .iter()
        .filter_map(|s| match s {
            Stage::Enriched(e) => Some(e),
            _ => None,
        })
        .collect();
    let entries = put_records_entries(&enriched);
    let total = start.elapsed();
    Iteration {
        total,
        phases: [
            t_parse,
            t_prepare - t_parse,
            t_finish - t_prepare,
            total - t_finish,
        ],
        records: batch.records.len(),
        entries,
        poison: stages
            .iter()
            .filter(|s| matches!(s, Stage::Poison(_)))
            .count(),
        output_bytes: enriched.iter().map(|e| e.data.len()).sum(),
        payload_bytes: batch.records.iter().map(|r| r.bytes().len()).sum(),
    }
}

/// The PutRecords request entries, chunk by chunk, as the Kinesis adapter builds them.
fn put_records_entries(enriched: &[&EnrichedRecord]) -> usize {
    let mut entries = 0usize;
    for chunk in plan_chunks(enriched) {
        let request: Vec<PutRecordsRequestEntry> = chunk
            .iter()
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(enriched[*i].data.clone()))
                    .partition_key(enriched[*i].partition_key.clone())
                    .build()
                    .expect("entry")
            })
            .collect();
        entries += request.len();
        std::hint::black_box(request);
    }
    entries
}

/// `rss_before`: the peak RSS before the loop, or `None` where the process's peak is not this
/// batch's own.
fn report(args: &Args, input_bytes: usize, runs: &[Iteration], rss_before: Option<u64>) {
    let last = runs.last().expect("at least one iteration");
    let peak = peak_rss().unwrap_or(0);
    let n = last.records;
    let per_record = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    // Each phase's fastest iteration: the figure least disturbed by other work on the machine.
    let fastest = |i: usize| runs.iter().map(|r| r.phases[i]).min().unwrap_or_default();
    let phase_line = format!(
        "event parse + decode {:.2}, validate {:.2}, enrich + encode {:.2}, PutRecords entries {:.2}",
        per_record(fastest(0)),
        per_record(fastest(1)),
        per_record(fastest(2)),
        per_record(fastest(3))
    );
    let mut timings: Vec<Duration> = runs.iter().map(|r| r.total).collect();
    timings.sort();
    let best = timings[0];
    let median = timings[timings.len() / 2];
    let per_sec = |d: Duration| n as f64 / d.as_secs_f64();
    let budget = 3 * input_bytes as u64 + 20 * 1024 * 1024;
    println!(
        "enrich-bench: {n} records in, {} PutRecords entries, {} poison; event {:.1} MB, output {:.1} MB",
        last.entries,
        last.poison,
        input_bytes as f64 / 1e6,
        last.output_bytes as f64 / 1e6
    );
    println!(
        "  record payload  {:.0} bytes on average (the value after base64: JSON, or Avro with its header)",
        last.payload_bytes as f64 / n as f64
    );
    println!("  iterations      {}", args.iterations);
    println!(
        "  records/s       {:.0} (median), {:.0} (best)",
        per_sec(median),
        per_sec(best)
    );
    println!(
        "  us/record       {:.2} (median), {:.2} (best)",
        median.as_secs_f64() * 1e6 / n as f64,
        best.as_secs_f64() * 1e6 / n as f64
    );
    println!("  us/record by phase (fastest iteration of each): {phase_line}");
    if let Some(rss_before) = rss_before {
        println!(
            "  peak RSS        {:.1} MB (before the loop {:.1} MB); budget 3 x event + 20 MB = {:.1} MB -> {}",
            peak as f64 / 1e6,
            rss_before as f64 / 1e6,
            budget as f64 / 1e6,
            if peak <= budget { "within" } else { "OVER" }
        );
    }
}
