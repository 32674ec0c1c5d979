//! The command line: where the functions are, how to answer, and one subcommand per function.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::Request;
use crate::commands::alerts::AlertsCmd;
use crate::commands::checkpoints::CheckpointsCmd;
use crate::commands::enrich::EnrichCmd;
use crate::commands::partitions::PartitionsCmd;
use crate::commands::scaler::ScalerCmd;

/// Ops commands for the streamops functions, checked before they are sent and invoked through
/// the Lambda API. AWS credentials, region and endpoints come from the standard AWS settings
/// (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).
#[derive(Debug, Parser)]
#[command(name = "streamops", version)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    /// table (readable) or json (one JSON document per invocation, for scripts).
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Do not ask before a command that acts (--apply) when standard input is a terminal.
    #[arg(long, short, global = true)]
    pub yes: bool,
    #[command(subcommand)]
    pub function: FunctionCmd,
}

/// Which deployment: one of these (the CLI says so when none or several are given).
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// A deployed stack: function names come from its outputs (CloudFormation DescribeStacks).
    #[arg(long, global = true, env = "STREAMOPS_STACK")]
    pub stack: Option<String>,
    /// The function's name or ARN, for a function deployed some other way.
    #[arg(long = "function", global = true)]
    pub function_name: Option<String>,
    /// The local stack: the endpoints file it writes (.local/logs/endpoints.json for
    /// `make demo`), each function served by `cargo lambda watch`.
    #[arg(long, global = true, env = "STREAMOPS_LOCAL")]
    pub local: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum FunctionCmd {
    /// Silences and test alerts.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Restore points, job registration, pins and retention of Flink checkpoints.
    #[command(subcommand)]
    Checkpoints(CheckpointsCmd),
    /// Dry runs of records and replays of quarantined ones.
    #[command(subcommand)]
    Enrich(EnrichCmd),
    /// Backfills and the status of Athena/Glue partitions.
    #[command(subcommand)]
    Partitions(PartitionsCmd),
    /// Targets' status, scaling by hand, pausing.
    #[command(subcommand)]
    Scaler(ScalerCmd),
}

impl FunctionCmd {
    /// The command, built and checked with the function's own parser; nothing is sent yet.
    pub fn request(&self) -> Result<Request, String> {
        match self {
            FunctionCmd::Alerts(c) => c.request(),
            FunctionCmd::Checkpoints(c) => c.request(),
            FunctionCmd::Enrich(c) => c.request(),
            FunctionCmd::Partitions(c) => c.request(),
            FunctionCmd::Scaler(c) => c.request(),
        }
    }
}
