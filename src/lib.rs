//! routerd: a real-time skills-based routing engine for contact centers.
//!
//! Layers (see `shared/DESIGN.md`):
//! - [`core`]: the sans-IO, deterministic domain (engine, strategies, statistics).
//! - [`server`]: the engine task (single writer) and the event bus.
//! - [`grpc`]: thin tonic handlers: validate, convert, send the command, map errors.
//! - [`sim`]: the core engine on virtual time, driven by generated traffic.
//! - [`config`]: embedded defaults, TOML file and flags.

pub mod config;
pub mod core;
pub mod grpc;
pub mod loadgen;
pub mod server;
pub mod sim;

/// Generated protobuf and tonic code for `routing.v1`.
pub mod proto {
    tonic::include_proto!("routing.v1");

    /// The encoded file descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/routing_descriptor.bin"));
}
