//! End-to-end tests: a real routerd server on 127.0.0.1:0, driven through tonic clients.

mod access;
mod blended;
mod common;
mod ctl;
mod durability;
mod http;
mod lifecycle;
mod load;
mod loadgen;
mod nats;
mod replay;
mod strategies;
mod supervisor;
mod tls;
mod validation;
mod views;
mod wallboard;
