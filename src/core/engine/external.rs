//! Work outside the router: an agent's desktop registers work the router did not assign (an
//! outbound call, a task from another system) so that it holds capacity and shows in the
//! agent's state and occupancy, then ends it.
//!
//! Invariants: external work is counted in the agent's `load` (its cost) and `per_channel` (one
//! contact of its channel) exactly as a contact is, so `load` never exceeds `capacity` and no
//! channel limit is passed: work that does not fit is refused, never squeezed in. Ids are
//! unique per agent; at most [`ExternalWork::MAX`] at once.
//!
//! It is not a contact: no queue counts it, it has no offer or wrap-up, and it stays with the
//! agent through presence changes (an agent who goes not ready to make an outbound call keeps
//! it; logging off keeps it too, as assigned contacts are kept). An agent holding external work
//! cannot be removed. Ending it frees the capacity, and the agent takes waiting contacts at once.
//!
//! Cost: a scan of the agent's own external work (at most 16) per command.

use super::*;
use crate::core::agent::ExternalWork;

impl Engine {
    pub(super) fn start_external_work(
        &mut self,
        agent: &str,
        id: String,
        channel: Channel,
        cost: Option<u32>,
        label: String,
    ) -> Result<Applied, CoreError> {
        crate::core::types::validate_id(&id, "work id")?;
        if label.len() > 256 || label.chars().any(char::is_control) {
            return Err(CoreError::invalid(
                "work label must be at most 256 bytes without control characters",
            ));
        }
        if cost == Some(0) || cost.is_some_and(|c| c > 10_000) {
            return Err(CoreError::invalid("work cost must be 1-10000"));
        }
        let key = self.agent_key(agent)?;
        let a = self.agent(key);
        if a.presence == Presence::Offline {
            return Err(CoreError::AgentOffline {
                agent: agent.into(),
            });
        }
        if a.external.iter().any(|w| *w.id == *id) {
            return Err(CoreError::WorkExists {
                agent: agent.into(),
                id,
            });
        }
        if a.external.len() >= ExternalWork::MAX {
            return Err(CoreError::invalid(format!(
                "agent {agent:?} holds {} pieces of external work; the limit is {}",
                a.external.len(),
                ExternalWork::MAX
            )));
        }
        let cost = cost.unwrap_or_else(|| self.config.costs.cost(channel));
        if !a.has_room(channel, cost) {
            return Err(CoreError::NoRoomForWork {
                agent: agent.into(),
                channel,
                cost,
                load: a.load,
                capacity: a.capacity,
            });
        }
        let now = self.now;
        let a = self.agent_mut(key);
        a.load += cost;
        a.per_channel[channel.index()] += 1;
        // Busy from now: longest-idle counts from when it ends.
        a.idle_since = now;
        a.external.push(ExternalWork {
            id: id.into(),
            channel,
            cost,
            label: label.into(),
            started_at: now,
        });
        self.sync_index(key);
        let view = self.view_of(key);
        self.emit(EventBody::AgentStateChanged {
            agent: view.clone(),
        });
        Ok(Applied::Agent {
            created: false,
            agent: view,
        })
    }

    pub(super) fn end_external_work(
        &mut self,
        agent: &str,
        id: &str,
    ) -> Result<Applied, CoreError> {
        let key = self.agent_key(agent)?;
        let Some(i) = self.agent(key).external.iter().position(|w| &*w.id == id) else {
            return Err(CoreError::UnknownWork {
                agent: agent.into(),
                id: id.into(),
            });
        };
        let now = self.now;
        let a = self.agent_mut(key);
        let work = a.external.remove(i);
        a.load -= work.cost;
        a.per_channel[work.channel.index()] -= 1;
        if a.load == 0 {
            a.idle_since = now;
        }
        self.sync_index(key);
        let view = self.view_of(key);
        self.emit(EventBody::AgentStateChanged {
            agent: view.clone(),
        });
        self.route_agent(key, Trigger::CapacityFreed);
        Ok(Applied::Agent {
            created: false,
            agent: self.view_of(key),
        })
    }
}
