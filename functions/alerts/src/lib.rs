//! alerts: EventBridge and SNS events in, deduplicated well-formed SNS alerts out.
//!
//! Pure core: [`normalize`] (inputs to [`model::Alert`]), [`dedup`] (publish or not),
//! [`render`] (SNS subject, body, attributes), `silence`, [`ops`] (commands: parsing, and
//! carrying them out through the ports). [`ports`]: the state store and the publisher, as
//! traits; their AWS adapters are [`store`] (DynamoDB) and [`publisher`] (SNS). [`service`]
//! runs the dedup and publish protocol per invocation over any adapters; `context` (pure) and
//! `awareness` know what the rest of the suite is doing (a resize, a checkpoint failure), and
//! [`book`] reads the checkpoints book.

mod awareness;
pub mod book;
pub mod config;
pub mod context;
pub mod dedup;
mod delivery;
mod explain;
pub mod group;
mod group_render;
pub mod grouping;
pub mod inhibit;
pub mod matcher;
pub mod model;
pub mod mute;
pub mod normalize;
pub mod ops;
mod outcome;
pub mod pagerduty;
pub mod ports;
pub mod publisher;
pub mod queue;
pub mod render;
pub mod route;
pub mod service;
mod silence;
pub mod store;

// The ops CLI (cli/) checks a silence exactly as `create-silence` will before sending it.
pub use silence::{CreateSilenceRequest, MAX_SILENCE_DAYS, Silence, create_silence};
