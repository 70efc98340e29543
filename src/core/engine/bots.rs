//! Bots as agents: a bot (an agent of kind `bot`) takes contacts as people do, never wraps up,
//! and hands what it cannot finish to people by **escalation**: a blind transfer
//! ([`Engine::transfer`]) that first adds the bot's summary and the fields it collected to the
//! contact's context, so the person's offer carries them (and its history shows the bot's leg,
//! recorded as `escalated`).
//!
//! Containment, per queue: contacts a bot completed there (`bot_contained`) against those a bot
//! escalated from there (`bot_escalated`); containment = contained ÷ both.
//!
//! Invariants: only a bot escalates (a person transfers); the context after the escalation
//! stays within the engine's context limits, checked before anything changes; a refused
//! escalation changes nothing (the context is put back when the transfer is refused).
//!
//! Cost: a copy of the contact's context (bounded by the context limits) per escalation.

use std::collections::BTreeMap;

use super::*;

/// The context key the bot's summary is written under.
pub const SUMMARY_KEY: &str = "bot.summary";

impl Engine {
    pub(super) fn escalate(
        &mut self,
        id: ContactId,
        agent: &str,
        queue: &str,
        summary: String,
        fields: BTreeMap<String, String>,
        required: Vec<SkillLevel>,
    ) -> Result<Applied, CoreError> {
        let key = self.agent_key(agent)?;
        if !self.agent(key).is_bot() {
            return Err(CoreError::NotABot {
                agent: agent.into(),
            });
        }
        let contact = self.live_contact(id)?;
        let before = contact.context.clone();
        let mut context = (*before).clone();
        context.extend(fields);
        if !summary.is_empty() {
            context.insert(SUMMARY_KEY.into(), summary);
        }
        crate::core::contact::validate_context(&context, self.config.context)?;
        if context != *before {
            self.contact_mut(id).context = Arc::new(context);
        }
        let result = self.transfer(id, agent, queue, required, "escalated".into(), None);
        if result.is_err()
            && let Some(contact) = self.contacts.get_mut(&id)
        {
            contact.context = before;
        }
        result
    }
}
