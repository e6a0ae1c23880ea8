//! Integration tests of the search language, compiled as one binary.

mod conformance;
mod hostile;
mod round_trip;
mod semantics;
mod support;
