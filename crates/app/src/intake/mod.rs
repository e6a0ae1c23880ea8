//! The Datadog logs intake: request bodies to events.

pub mod accept;
pub mod budget;
pub mod decode;
pub mod ids;
pub mod normalize;

pub use accept::{IntakeBatch, decode_error};
