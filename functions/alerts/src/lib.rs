//! alerts: EventBridge and SNS events in, deduplicated well-formed SNS alerts out.
//!
//! Pure core: [`normalize`] (inputs to [`model::Alert`]), [`dedup`] (publish or not),
//! [`render`] (SNS subject, body, attributes), [`silence`], [`ops`] (command parsing).
//! Adapters: [`store`] (DynamoDB), [`publisher`] (SNS). [`service`] wires them per invocation.

pub mod config;
pub mod dedup;
pub mod model;
pub mod normalize;
pub mod ops;
pub mod publisher;
pub mod render;
pub mod service;
pub mod silence;
pub mod store;
