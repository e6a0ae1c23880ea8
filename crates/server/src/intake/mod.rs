//! The Datadog logs intake: request bodies to events.

pub mod normalize;
