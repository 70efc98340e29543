//! The routing domain, sans-IO: agents, queues, contacts, strategies and the [`Engine`] that
//! matches them. No tokio, no tonic, no clock: every input carries its `now`, and the engine
//! reports its next deadline so the caller knows when to wake it.
//!
//! Invariants are documented on [`engine`] and checked by [`Engine::check_invariants`].

pub mod agent;
pub mod command;
pub mod contact;
pub mod engine;
pub mod error;
pub mod events;
pub mod ewt;
pub mod history;
pub mod index;
pub mod queue;
pub mod stats;
pub mod strategy;
pub mod types;

pub use agent::{AgentKind, AgentSpec, AgentView, ExternalWork, Holding, Presence, PresenceView};
pub use command::{Applied, Command, NamedAgent};
pub use contact::{
    Attempt, AttemptResult, Callback, CallbackRequest, CancelReason, Consult, ContactState,
    ContactUpdate, ContactView, Firing, NewContact, Outcome, Preference, PreferredAgent,
};
pub use engine::{AgentChange, Changes, Engine, EngineConfig, EnqueueAnswer, QueueSnapshot};
pub use error::CoreError;
pub use events::{
    Candidate, ConsultEnd, Decision, Event, EventBody, Exclusions, ReturnReason, Side, Terms,
    Trigger, Withdrawal,
};
pub use history::{Interaction, InteractionOutcome};
pub use queue::{ExceptionAction, ExceptionRule, ExceptionTrigger, QueueConfig, Relax, RelaxStep};
pub use strategy::{AgentTerm, ContactTerm, Strategy};
pub use types::{Channel, ChannelCosts, ContactId, Level, Millis, SkillLevel, SkillName};

#[cfg(test)]
mod bot_tests;
#[cfg(test)]
mod callback_tests;
#[cfg(test)]
mod consult_tests;
#[cfg(test)]
mod cost_tests;
#[cfg(test)]
mod exception_tests;
#[cfg(test)]
mod external_tests;
#[cfg(test)]
mod interruption_tests;
#[cfg(test)]
mod preference_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod repeat_tests;
#[cfg(test)]
mod search_proptests;
#[cfg(test)]
mod strategy_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transfer_tests;
#[cfg(test)]
mod update_tests;
