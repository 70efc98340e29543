//! The process allocator: mimalloc, for every binary built on this crate.
//!
//! Owns the choice of allocator for `routerd` and the benches: each declares
//! `#[global_allocator] static ALLOCATOR: Allocator = Allocator;`, so the benches measure the
//! allocator the server runs with, and changing it here changes it everywhere.
//!
//! Why mimalloc: the engine's indexes are B-trees whose nodes are allocated and freed on every
//! decision, and the journal thread frees what the engine thread allocated. mimalloc keeps
//! same-sized blocks together in thread-local pages, so a decision on a 100,000-agent floor
//! touches fewer cache lines than with glibc's malloc. Measured in interleaved runs on one
//! 2-core machine (`cargo bench --bench routing -- routing/decision/`): the 100k ÷ 1k decision
//! cost went from 1.4–2.2× (glibc) to 1.25–1.46× (mimalloc). Under `routerd loadgen --duration 8`
//! against `serve --ephemeral`, interleaved with the glibc build: 10.8–12.3k contacts/s against
//! 8.7–10.8k, EnqueueContact p99 7.5–9.2 ms against 6.4–8.1 ms.
//!
//! mimalloc runs with its defaults: freed pages go back to the kernel after a one-second delay
//! (`MIMALLOC_PURGE_DELAY=-1` in the environment keeps them; it made no measurable difference to
//! loadgen throughput or p99). Known limit: the `memory` bench counts bytes requested, not
//! mimalloc's own overhead; the resident set it prints is the real cost.

pub use mimalloc::MiMalloc as Allocator;
