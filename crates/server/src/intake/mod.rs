//! The Datadog logs intake: request bodies to events.

pub mod budget;
pub mod decode;
pub mod ids;
pub mod normalize;
