//! Scaling policies and the decisions they lead to: the configuration (`config`, checked by
//! `validate`), what is remembered about a target (`state`), what a decision sees and comes to
//! (`decision`), and the decision itself as a chain of small pure stages (`decide`).

mod config;
mod decide;
mod decision;
mod state;
mod validate;

pub use crate::metric::{LoadMetrics, MetricRef};
pub use crate::sizing::{Alignment, LoadSample, Proportional};
pub use config::{
    AlarmRule, Direction, EmrStepSubmit, FleetMarket, FlinkRescaleMode, Policies, Sizing,
    TargetKind, TargetPolicy,
};
pub use decide::{KINESIS_CALLS_PER_DAY, SCALE_IN_FLOOR, decide, effectiveness, next_size};
pub use decision::{Observed, ScalingDecision, SkipReason};
pub use state::{Memo, PendingScaleIn, ScaleUpRecord, TargetState, Wakeup};
