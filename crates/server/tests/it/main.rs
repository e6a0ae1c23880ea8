//! Black-box tests of the `evident` binary, compiled as one test binary.

mod match_command;
