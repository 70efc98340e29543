//! routerd: a real-time skills-based routing engine for contact centers.
//!
//! Layers (see `shared/DESIGN.md`), each importing only those below it:
//! - [`app`]: the composition root of `routerd serve`: builds the runtime and the listeners,
//!   hands out the drain signal, waits for them.
//! - [`http`]: the HTTP listener (wallboard, metrics, JSON snapshot, server-sent events), reading
//!   views and the event bus only.
//! - [`grpc`]: the gRPC listener: thin tonic handlers (validate, convert, send the command or read
//!   the view, map errors); [`access`]: tokens and roles, for every listener.
//! - [`runtime`]: the engine thread (the single writer), its commit pipeline, the snapshotter,
//!   desktop sessions, the event bus; [`command_log`]: the seam it commits to (the file journal,
//!   or memory only) and the record format.
//! - [`core`]: the sans-IO, deterministic domain (engine, strategies, statistics).
//! - [`sim`]: the core engine on virtual time, driven by generated traffic; [`loadgen`]: a gRPC
//!   client that plays frontends, desktops and supervisors.
//! - [`ctl`]: `routerd ctl`, the operator's command-line client over the public gRPC API.
//! - [`config`]: embedded defaults, TOML file and flags; [`allocator`]: the process allocator.

pub mod access;
pub mod allocator;
pub mod app;
pub mod command_log;
pub mod config;
pub mod core;
pub mod ctl;
pub mod drain;
pub mod grpc;
pub mod http;
pub mod loadgen;
pub mod replay;
pub mod runtime;
pub mod sim;

/// Generated protobuf and tonic code for `routing.v1`.
pub mod proto {
    tonic::include_proto!("routing.v1");
    include!(concat!(env!("OUT_DIR"), "/routing.v1.serde.rs"));

    /// The encoded file descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/routing_descriptor.bin"));

    /// Every routing method's request path (`/routing.v1.ContactService/EnqueueContact`),
    /// sorted.
    pub const METHOD_PATHS: &[&str] = include!(concat!(env!("OUT_DIR"), "/routing_methods.rs"));
}
