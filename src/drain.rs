//! The drain signal: the composition root flips it once shutdown begins, and
//! every listener watches it. Long-lived streams (desktop sessions, supervisor streams) end with
//! UNAVAILABLE when it flips, so a graceful shutdown never waits on a client that would otherwise
//! stay connected forever.

/// `true` once shutdown began.
pub type Drain = tokio::sync::watch::Receiver<bool>;

/// The status message a stream ends with when the server drains.
pub const SHUTTING_DOWN: &str = "routerd is shutting down";

/// A new drain signal, not yet flipped: the sender flips it, the receiver is cloned into every
/// listener.
pub fn signal() -> (tokio::sync::watch::Sender<bool>, Drain) {
    tokio::sync::watch::channel(false)
}

/// Completes once the server drains (or its drain signal is gone).
pub async fn drained(drain: &mut Drain) {
    while !*drain.borrow_and_update() {
        if drain.changed().await.is_err() {
            return;
        }
    }
}
