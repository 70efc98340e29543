//! Who leads: whether this routerd serves the floor (it holds the journal, its engine runs) or
//! stands by (another routerd holds the journal's lease), and which address leads.
//!
//! The composition root owns a [`Standing`] (the writing side) and hands each listener a
//! [`Leadership`] (the reading side), so listeners can open before the engine runs: a standby
//! answers health `NOT_SERVING` and every routing call `UNAVAILABLE`, naming the leader, until
//! it takes over; then the same listeners serve, without dropping a connection. The runtime
//! reports the holder of the lease it watches ([`Standing::following`]) and asks
//! [`Standing::cancelled`] between its looks, so a standby told to stop while it waits stops
//! within a quarter lease.
//!
//! Invariant: once [`Role::Leader`] is set it is never unset while the listeners run (a leader
//! that loses the lease stops the process; [`Standing::close`] comes after the listeners). Cost: reading the role is a lock-free `watch` borrow; it is read once per
//! refused call and once per listener when the engine starts, never on a served call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use super::EngineHandle;

/// What this routerd is doing now.
#[derive(Clone)]
pub enum Role {
    /// Waiting for the journal's lease. `leader` is the address the holder serves on, when
    /// one holds it (`None` while the lease is being taken over, or before it was first read).
    Standby { leader: Option<String> },
    /// Serving the floor through this handle.
    Leader(EngineHandle),
}

/// The writing side: set by the runtime (the lease's holder) and the composition root (the
/// handle, once the engine runs).
#[derive(Clone)]
pub struct Standing {
    role: Arc<watch::Sender<Role>>,
    cancelled: Arc<AtomicBool>,
}

/// The reading side, one per listener.
#[derive(Clone)]
pub struct Leadership {
    role: watch::Receiver<Role>,
}

/// A standby's pair, before anyone was seen holding the lease.
pub fn standing_by() -> (Standing, Leadership) {
    let (tx, rx) = watch::channel(Role::Standby { leader: None });
    (
        Standing {
            role: Arc::new(tx),
            cancelled: Arc::new(AtomicBool::new(false)),
        },
        Leadership { role: rx },
    )
}

impl Standing {
    /// The lease is held by `leader` (its holder's value as the lease records it), or by
    /// nobody (`None`: being taken over).
    pub fn following(&self, leader: Option<&str>) {
        let leader = leader.map(|holder| {
            // The lease records `ADDRESS (process PID, NONCE)`.
            holder
                .split_once(" (")
                .map_or(holder, |(addr, _)| addr)
                .to_string()
        });
        self.role.send_if_modified(|role| match role {
            Role::Standby { leader: seen } if *seen != leader => {
                *seen = leader;
                true
            }
            _ => false,
        });
    }

    /// This routerd leads, through `handle`.
    pub fn lead(&self, handle: EngineHandle) {
        self.role.send_replace(Role::Leader(handle));
    }

    /// Lets go of the engine handle the role holds, once the listeners are done (the engine
    /// stops when its last handle goes). Nothing reads the role afterwards.
    pub fn close(&self) {
        self.role.send_replace(Role::Standby { leader: None });
    }

    /// Stop waiting for the lease (the server is shutting down).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl Leadership {
    /// The handle, if this routerd leads now.
    pub fn handle(&self) -> Option<EngineHandle> {
        match &*self.role.borrow() {
            Role::Leader(handle) => Some(handle.clone()),
            Role::Standby { .. } => None,
        }
    }

    /// The address of the routerd that leads, as a standby last saw it.
    pub fn leader(&self) -> Option<String> {
        match &*self.role.borrow() {
            Role::Standby { leader } => leader.clone(),
            Role::Leader(_) => None,
        }
    }

    /// Completes with the handle once this routerd leads; `None` if it never will (the
    /// writing side is gone: the server stopped while standing by).
    pub async fn led(&mut self) -> Option<EngineHandle> {
        let role = self
            .role
            .wait_for(|role| matches!(role, Role::Leader(_)))
            .await
            .ok()?;
        match &*role {
            Role::Leader(handle) => Some(handle.clone()),
            Role::Standby { .. } => None,
        }
    }

    /// Why a call is refused while this routerd stands by, and the leader to call instead.
    pub fn refusal(&self) -> (String, Option<String>) {
        match self.leader() {
            Some(leader) => (
                format!("this routerd is a standby; the leader serves at {leader}"),
                Some(leader),
            ),
            None => (
                "this routerd is a standby taking over the journal; try again shortly".into(),
                None,
            ),
        }
    }
}

/// The metadata key (gRPC) and header (HTTP) naming the leader in a standby's refusal.
pub const LEADER_HEADER: &str = "routerd-leader";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_standby_names_the_leader_it_follows_then_leads() {
        let (standing, leadership) = standing_by();
        assert!(leadership.handle().is_none());
        assert_eq!(leadership.refusal().1, None);
        standing.following(Some("10.0.0.7:50051 (process 42, 0a1b2c3d)"));
        assert_eq!(leadership.leader().as_deref(), Some("10.0.0.7:50051"));
        let (message, leader) = leadership.refusal();
        assert!(message.contains("10.0.0.7:50051"), "{message}");
        assert_eq!(leader.as_deref(), Some("10.0.0.7:50051"));
        standing.following(None);
        assert_eq!(leadership.leader(), None);

        let running = crate::runtime::start(crate::runtime::RuntimeConfig::ephemeral())
            .await
            .unwrap();
        let mut waiting = leadership.clone();
        let led = tokio::spawn(async move { waiting.led().await.is_some() });
        standing.lead(running.handle.clone());
        assert!(led.await.unwrap());
        assert!(leadership.handle().is_some());
        // A leader reports no other leader, whatever the runtime still says.
        standing.following(Some("10.0.0.8:50051 (process 1, 0)"));
        assert!(leadership.handle().is_some());
        assert_eq!(leadership.leader(), None);
    }

    #[tokio::test]
    async fn a_standby_that_stops_never_leads() {
        let (standing, mut leadership) = standing_by();
        assert!(!standing.cancelled());
        standing.cancel();
        assert!(standing.cancelled());
        drop(standing);
        assert!(leadership.led().await.is_none());
    }
}
