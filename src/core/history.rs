//! Customer interaction history: what the engine remembers of each customer's and each
//! conversation's recent contacts (channel, queue, agent, outcome), so a customer who moves from
//! chat to phone reaches the agent who knows the case, and the agent sees the context.
//!
//! Invariants: at most [`PER_KEY`] interactions per key, most recent last, one entry per contact
//! (a contact's entry is updated in place as it moves from handling to its outcome); at most the
//! configured number of keys, the least recently touched forgotten first (deterministically, by a
//! touch sequence — never by hash-map order).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::types::{Channel, ContactId, HashMap, Millis};

/// Interactions kept per customer or conversation.
pub const PER_KEY: usize = 5;

/// How an earlier contact went.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractionOutcome {
    /// Accepted by the agent and not yet completed.
    Handling,
    Completed {
        resolved: bool,
        satisfaction: u8,
    },
    Abandoned,
    Expired,
    /// Handled, then transferred to another queue by this agent.
    Transferred,
    /// Handled by a bot, then escalated to a queue of people.
    Escalated,
}

impl InteractionOutcome {
    pub fn name(self) -> &'static str {
        match self {
            InteractionOutcome::Handling => "handling",
            InteractionOutcome::Completed { resolved: true, .. } => "resolved",
            InteractionOutcome::Completed { .. } => "unresolved",
            InteractionOutcome::Abandoned => "abandoned",
            InteractionOutcome::Expired => "expired",
            InteractionOutcome::Transferred => "transferred",
            InteractionOutcome::Escalated => "escalated",
        }
    }
}

/// One earlier contact of a customer or conversation.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct Interaction {
    pub contact: ContactId,
    /// When it was answered, or ended unanswered.
    pub at: Millis,
    pub channel: Channel,
    pub queue: Arc<str>,
    pub agent: Option<Arc<str>>,
    pub outcome: InteractionOutcome,
}

#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Record {
    touched: u64,
    interactions: Arc<[Interaction]>,
}

/// Recent interactions by key (a customer id or a conversation id), bounded.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
pub struct History {
    records: HashMap<Arc<str>, Record>,
    /// Touch sequence → key, oldest first: the eviction order.
    order: BTreeMap<u64, Arc<str>>,
    next: u64,
}

impl History {
    pub fn get(&self, key: &str) -> Option<&Arc<[Interaction]>> {
        self.records.get(key).map(|r| &r.interactions)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds or updates (by contact) one interaction under `key`; keeps at most `limit` keys.
    pub fn record(&mut self, key: &Arc<str>, interaction: Interaction, limit: usize) {
        if key.is_empty() || limit == 0 {
            return;
        }
        let touched = self.next;
        self.next += 1;
        let mut list: Vec<Interaction> = match self.records.get(&**key) {
            Some(record) => {
                self.order.remove(&record.touched);
                record.interactions.to_vec()
            }
            None => Vec::new(),
        };
        match list.iter_mut().find(|i| i.contact == interaction.contact) {
            Some(existing) => *existing = interaction,
            None => {
                list.push(interaction);
                if list.len() > PER_KEY {
                    list.remove(0);
                }
            }
        }
        self.records.insert(
            key.clone(),
            Record {
                touched,
                interactions: list.into(),
            },
        );
        self.order.insert(touched, key.clone());
        while self.records.len() > limit {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.records.remove(&oldest);
        }
    }
}

/// The agent of the most recent interaction at or after `since` handled by an agent that
/// `counts` (e.g. a person, not a bot), if any.
pub fn last_agent(
    interactions: &[Interaction],
    since: Millis,
    counts: impl Fn(&Arc<str>) -> bool,
) -> Option<&Arc<str>> {
    interactions
        .iter()
        .rev()
        .filter(|i| i.at >= since)
        .filter_map(|i| i.agent.as_ref())
        .find(|a| counts(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interaction(contact: ContactId, agent: Option<&str>) -> Interaction {
        Interaction {
            contact,
            at: contact * 1000,
            channel: Channel::Chat,
            queue: "q".into(),
            agent: agent.map(Into::into),
            outcome: InteractionOutcome::Handling,
        }
    }

    #[test]
    fn keeps_a_bounded_list_per_key_and_forgets_the_least_recent_key() {
        let mut h = History::default();
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        for id in 1..=7 {
            h.record(&a, interaction(id, Some("x")), 2);
        }
        let list = h.get("a").unwrap();
        assert_eq!(list.len(), PER_KEY);
        assert_eq!(list.first().unwrap().contact, 3);
        // An update to a known contact replaces it in place.
        let mut done = interaction(7, Some("y"));
        done.outcome = InteractionOutcome::Abandoned;
        h.record(&a, done, 2);
        assert_eq!(h.get("a").unwrap().len(), PER_KEY);
        assert_eq!(h.get("a").unwrap()[4].agent.as_deref(), Some("y"));
        h.record(&b, interaction(8, None), 2);
        h.record(&a, interaction(9, None), 2);
        h.record(&c, interaction(10, None), 2);
        // b was touched least recently.
        assert!(h.get("b").is_none());
        assert!(h.get("a").is_some() && h.get("c").is_some());
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn last_agent_skips_unanswered_and_old_interactions() {
        let list = [
            interaction(1, Some("old")),
            interaction(5, Some("recent")),
            interaction(6, None),
        ];
        let any = |_: &Arc<str>| true;
        assert_eq!(last_agent(&list, 0, any).map(|a| &**a), Some("recent"));
        assert_eq!(last_agent(&list, 5_500, any), None);
        let not_recent = |a: &Arc<str>| &**a != "recent";
        assert_eq!(last_agent(&list, 0, not_recent).map(|a| &**a), Some("old"));
    }
}
