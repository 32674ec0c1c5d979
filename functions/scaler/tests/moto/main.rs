//! The scaler against moto: a real Kinesis stream resharded, a real EMR task group resized,
//! an instance fleet resized (moto extended with the fleet and managed-scaling actions:
//! scripts/stack/moto_ext.py), redelivered alarms, cooldowns, the scale-in delay window and the
//! schedule that ends it, bounds, pauses, on-demand streams, EMR managed scaling, proportional
//! sizing from CloudWatch metrics, leases and concurrent invocations. One test binary: the
//! stack in `harness`, the Kinesis targets' tests in `kinesis`, the EMR targets' in `emr`.

mod clusters;
mod emr;
mod harness;
mod kinesis;
