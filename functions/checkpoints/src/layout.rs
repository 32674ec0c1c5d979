//! Which Flink object an S3 key is. Pure: keys in, verdicts out.
//!
//! Flink writes a completed checkpoint as `<checkpoint-prefix><job-id>/chk-<n>/_metadata` (the
//! metadata file is written last, so its creation marks completion) and a savepoint as
//! `<savepoint-prefix>savepoint-<first 6 hex of the job id>-<12 hex>/_metadata`. Next to
//! `chk-<n>/` live `shared/` (incremental RocksDB files several checkpoints reference) and
//! `taskowned/`. With S3 entropy injection (`s3.entropy.key`), data file paths carry a random
//! segment where the key was and metadata paths have the key removed.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    /// Key prefix of checkpoint directories, ending in `/` (or empty), entropy key removed.
    pub checkpoint_prefix: String,
    /// Key prefix of savepoints, ending in `/` (or empty).
    pub savepoint_prefix: String,
    /// Whether data files carry an entropy segment in front of the checkpoint prefix.
    pub entropy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    Checkpoint,
    Savepoint,
}

impl PointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PointKind::Checkpoint => "checkpoint",
            PointKind::Savepoint => "savepoint",
        }
    }
}

/// Why an object under the watched prefixes is not a restore point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// Not under the checkpoint or savepoint prefix.
    OutsidePrefixes,
    /// Under `<job>/shared/`: incremental state, reference-counted by Flink.
    SharedState,
    /// Under `<job>/taskowned/`.
    TaskOwnedState,
    /// A state or data file inside a checkpoint or savepoint directory.
    StateFile,
    /// An in-progress or temporary object (`.inprogress`, `_tmp_`, `.tmp`).
    Temporary,
    /// Under the prefixes but not in a layout Flink writes.
    UnrecognizedLayout,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::OutsidePrefixes => "outside_prefixes",
            IgnoreReason::SharedState => "shared_state",
            IgnoreReason::TaskOwnedState => "task_owned_state",
            IgnoreReason::StateFile => "state_file",
            IgnoreReason::Temporary => "temporary",
            IgnoreReason::UnrecognizedLayout => "unrecognized_layout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlinkObject {
    /// `_metadata` of a completed checkpoint. `dir` is the key prefix `.../chk-<n>/`.
    Checkpoint {
        job_id: String,
        checkpoint_id: u64,
        dir: String,
    },
    /// `_metadata` of a savepoint. Only the first six hex digits of the job id are in the path.
    Savepoint {
        job_prefix: String,
        name: String,
        dir: String,
    },
    /// A file inside `chk-<n>/` other than `_metadata` (used to find orphaned directories).
    CheckpointFile {
        job_id: String,
        checkpoint_id: u64,
        dir: String,
    },
    Ignored(IgnoreReason),
}

/// 32 hex digits: a Flink job id.
pub fn is_job_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Locations {
    /// `checkpoint_prefix` may contain the entropy key as a path segment (`_entropy_/checkpoints/`).
    pub fn new(
        checkpoint_prefix: &str,
        savepoint_prefix: &str,
        entropy_key: Option<&str>,
    ) -> Result<Self, String> {
        for (name, p) in [
            ("checkpoint", checkpoint_prefix),
            ("savepoint", savepoint_prefix),
        ] {
            if !p.is_empty() && !p.ends_with('/') {
                return Err(format!("the {name} prefix {p:?} must end in /"));
            }
            if p.starts_with('/') {
                return Err(format!("the {name} prefix {p:?} must not start with /"));
            }
        }
        let (checkpoint_prefix, entropy) = match entropy_key {
            Some(k) if !k.is_empty() => {
                let segment = format!("{k}/");
                if !checkpoint_prefix.contains(&segment) {
                    return Err(format!(
                        "entropy key {k:?} is not a segment of the checkpoint prefix {checkpoint_prefix:?}"
                    ));
                }
                (checkpoint_prefix.replacen(&segment, "", 1), true)
            }
            _ => (checkpoint_prefix.to_string(), false),
        };
        Ok(Self {
            checkpoint_prefix,
            savepoint_prefix: savepoint_prefix.to_string(),
            entropy,
        })
    }

    pub fn classify(&self, key: &str) -> FlinkObject {
        let basename = key.rsplit('/').next().unwrap_or(key);
        if basename.ends_with(".inprogress")
            || basename.contains("_tmp_")
            || basename.ends_with(".tmp")
        {
            return FlinkObject::Ignored(IgnoreReason::Temporary);
        }
        if let Some(rest) = key.strip_prefix(self.checkpoint_prefix.as_str())
            && let Some(o) = self.checkpoint_object(rest, &self.checkpoint_prefix)
        {
            return o;
        }
        if let Some(rest) = key.strip_prefix(self.savepoint_prefix.as_str())
            && let Some(o) = self.savepoint_object(rest)
        {
            return o;
        }
        if self.entropy {
            // A data file: `<entropy>/<prefix><job>/...`; its metadata never carries entropy.
            if let Some((_, rest)) = key.split_once('/')
                && let Some(rest) = rest.strip_prefix(self.checkpoint_prefix.as_str())
                && let Some(o) = self.checkpoint_object(rest, &self.checkpoint_prefix)
            {
                return match o {
                    FlinkObject::Checkpoint {
                        job_id,
                        checkpoint_id,
                        dir,
                    } => FlinkObject::CheckpointFile {
                        job_id,
                        checkpoint_id,
                        dir,
                    },
                    other => other,
                };
            }
        }
        let under = key.starts_with(self.checkpoint_prefix.as_str())
            || key.starts_with(self.savepoint_prefix.as_str());
        FlinkObject::Ignored(if under {
            IgnoreReason::UnrecognizedLayout
        } else {
            IgnoreReason::OutsidePrefixes
        })
    }

    fn checkpoint_object(&self, rest: &str, prefix: &str) -> Option<FlinkObject> {
        let mut parts = rest.splitn(3, '/');
        let job = parts.next()?;
        if !is_job_id(job) {
            return None;
        }
        let second = parts.next()?;
        let tail = parts.next().unwrap_or("");
        Some(match second {
            "shared" => FlinkObject::Ignored(IgnoreReason::SharedState),
            "taskowned" => FlinkObject::Ignored(IgnoreReason::TaskOwnedState),
            chk => {
                let id: u64 = chk.strip_prefix("chk-")?.parse().ok()?;
                let dir = format!("{prefix}{job}/{chk}/");
                if tail == "_metadata" {
                    FlinkObject::Checkpoint {
                        job_id: job.to_string(),
                        checkpoint_id: id,
                        dir,
                    }
                } else if tail.is_empty() {
                    return None;
                } else {
                    FlinkObject::CheckpointFile {
                        job_id: job.to_string(),
                        checkpoint_id: id,
                        dir,
                    }
                }
            }
        })
    }

    fn savepoint_object(&self, rest: &str) -> Option<FlinkObject> {
        let (name, tail) = rest.split_once('/')?;
        let body = name.strip_prefix("savepoint-")?;
        let (job_prefix, suffix) = body.split_once('-')?;
        if !is_hex(job_prefix, 6) || !is_hex(suffix, 12) {
            return None;
        }
        let dir = format!("{}{name}/", self.savepoint_prefix);
        Some(if tail == "_metadata" {
            FlinkObject::Savepoint {
                job_prefix: job_prefix.to_string(),
                name: name.to_string(),
                dir,
            }
        } else {
            FlinkObject::Ignored(IgnoreReason::StateFile)
        })
    }
}

/// Flink's checkpoint metadata header: `Checkpoints.HEADER_MAGIC_NUMBER`, big-endian.
pub const METADATA_MAGIC: u32 = 0x4960_672d;
/// How many bytes the ranged GET reads: magic, format version, checkpoint id.
pub const HEADER_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataVerdict {
    Valid {
        version: u32,
        checkpoint_id: Option<u64>,
    },
    Empty,
    BadMagic(u32),
    TooShort(usize),
}

/// Judges the first bytes of a `_metadata` object.
pub fn check_header(size: i64, head: &[u8]) -> MetadataVerdict {
    if size == 0 || head.is_empty() {
        return MetadataVerdict::Empty;
    }
    if head.len() < 8 {
        return MetadataVerdict::TooShort(head.len());
    }
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if magic != METADATA_MAGIC {
        return MetadataVerdict::BadMagic(magic);
    }
    let version = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    // The serializers of format versions 2 and later write the checkpoint id first.
    let checkpoint_id = (version >= 2)
        .then(|| head.get(8..16)?.try_into().ok().map(u64::from_be_bytes))
        .flatten();
    MetadataVerdict::Valid {
        version,
        checkpoint_id,
    }
}

/// The part of a path from `anchor` on (`s3://b/flink/checkpoints/j/chk-3/` and
/// `s3a://b/flink/checkpoints/j/chk-3` both give `flink/checkpoints/j/chk-3`), so paths from the
/// book and from Flink compare whatever scheme Flink was configured with.
pub fn relative_to(path: &str, anchor: &str) -> Option<String> {
    let i = path.find(anchor)?;
    Some(path[i..].trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

    fn loc() -> Locations {
        Locations::new("flink/checkpoints/", "flink/savepoints/", None).unwrap()
    }

    #[test]
    fn checkpoints_savepoints_and_everything_else() {
        let l = loc();
        assert_eq!(
            l.classify(&format!("flink/checkpoints/{JOB}/chk-42/_metadata")),
            FlinkObject::Checkpoint {
                job_id: JOB.into(),
                checkpoint_id: 42,
                dir: format!("flink/checkpoints/{JOB}/chk-42/")
            }
        );
        assert!(matches!(
            l.classify("flink/savepoints/savepoint-a1b2c3-0123456789ab/_metadata"),
            FlinkObject::Savepoint { ref job_prefix, .. } if job_prefix == "a1b2c3"
        ));
        let ignored = |k: &str| match l.classify(k) {
            FlinkObject::Ignored(r) => r,
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(
            ignored(&format!("flink/checkpoints/{JOB}/shared/3f2a-uuid")),
            IgnoreReason::SharedState
        );
        assert_eq!(
            ignored(&format!("flink/checkpoints/{JOB}/taskowned/x")),
            IgnoreReason::TaskOwnedState
        );
        assert_eq!(
            ignored("flink/savepoints/savepoint-a1b2c3-0123456789ab/op-state"),
            IgnoreReason::StateFile
        );
        assert_eq!(
            ignored(&format!(
                "flink/checkpoints/{JOB}/chk-7/_metadata.inprogress"
            )),
            IgnoreReason::Temporary
        );
        assert_eq!(
            ignored("flink/checkpoints/not-a-job/chk-1/_metadata"),
            IgnoreReason::UnrecognizedLayout
        );
        assert_eq!(ignored("other/file.json"), IgnoreReason::OutsidePrefixes);
        assert!(matches!(
            l.classify(&format!("flink/checkpoints/{JOB}/chk-9/3c1f-state")),
            FlinkObject::CheckpointFile {
                checkpoint_id: 9,
                ..
            }
        ));
    }

    #[test]
    fn entropy_injection_both_forms() {
        let l = Locations::new("_entropy_/checkpoints/", "savepoints/", Some("_entropy_")).unwrap();
        assert!(matches!(
            l.classify(&format!("checkpoints/{JOB}/chk-3/_metadata")),
            FlinkObject::Checkpoint {
                checkpoint_id: 3,
                ..
            }
        ));
        assert!(matches!(
            l.classify(&format!("x7Qp/checkpoints/{JOB}/chk-3/5d2e-state")),
            FlinkObject::CheckpointFile {
                checkpoint_id: 3,
                ..
            }
        ));
        assert!(
            Locations::new("checkpoints/", "s/", Some("_entropy_"))
                .unwrap_err()
                .contains("not a segment")
        );
        assert!(
            Locations::new("checkpoints", "s/", None)
                .unwrap_err()
                .contains("end in /")
        );
    }

    #[test]
    fn metadata_headers() {
        let mut head = METADATA_MAGIC.to_be_bytes().to_vec();
        head.extend(4u32.to_be_bytes());
        head.extend(42u64.to_be_bytes());
        assert_eq!(
            check_header(1234, &head),
            MetadataVerdict::Valid {
                version: 4,
                checkpoint_id: Some(42)
            }
        );
        assert_eq!(check_header(0, &[]), MetadataVerdict::Empty);
        assert_eq!(
            check_header(16, b"PK\x03\x04not-flink-at-all"),
            MetadataVerdict::BadMagic(0x504b_0304)
        );
        assert_eq!(check_header(3, b"abc"), MetadataVerdict::TooShort(3));
    }
}
