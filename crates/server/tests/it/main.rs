mod match_command;
mod server;
mod support;
