//! What happened to one object event.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new point that moved a latest pointer.
    RecordedLatest,
    /// A new point older than what the pointers name.
    Recorded,
    /// Known already; nothing changed.
    AlreadyRecorded,
    /// Known already, but a pointer had not been moved to it (the first delivery died between writes).
    LatestRepaired,
    /// Zero bytes or not Flink metadata: recorded, never offered for restore.
    Corrupt,
    /// Flink deleted the `_metadata`: the point is marked subsumed.
    Subsumed,
    /// A removal of a point that is not restorable (already subsumed, pruned, or unknown).
    Unchanged,
    /// Not a checkpoint or savepoint `_metadata` (or not an object event at all).
    Ignored,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RecordedLatest => "recorded_latest",
            Action::Recorded => "recorded",
            Action::AlreadyRecorded => "already_recorded",
            Action::LatestRepaired => "latest_repaired",
            Action::Corrupt => "corrupt",
            Action::Subsumed => "subsumed",
            Action::Unchanged => "unchanged",
            Action::Ignored => "ignored",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub key: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The pipeline whose latest pointer the event moved (the `LatestAdvanced` metric's
    /// `pipeline`); not part of the answer.
    #[serde(skip)]
    pub advanced_pipeline: Option<String>,
}

impl Outcome {
    pub fn new(key: &str, action: Action, detail: Option<String>) -> Self {
        Self {
            key: key.to_string(),
            action,
            detail,
            advanced_pipeline: None,
        }
    }

    pub fn ignored(key: &str, why: &str) -> Self {
        Self::new(key, Action::Ignored, Some(why.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_as_the_metric_dimension() {
        use Action::*;
        for a in [
            RecordedLatest,
            Recorded,
            AlreadyRecorded,
            LatestRepaired,
            Corrupt,
            Subsumed,
            Unchanged,
            Ignored,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }
}
