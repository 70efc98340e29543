//! Bots as agents: no wrap-up, a large capacity, escalation to people with the bot's summary,
//! containment per queue, and left out of affinity.

use std::collections::BTreeMap;

use super::error::ErrorClass;
use super::tests::Floor;
use super::*;

fn bot(f: &mut Floor, id: &str, capacity: Option<u32>) {
    let mut spec = AgentSpec::new(id).with_skills(&[("intake", 1)]).unwrap();
    spec.kind = AgentKind::Bot;
    spec.capacity = capacity;
    f.apply(Command::PutAgent(spec)).expect("bot");
    f.presence(id, Presence::Ready);
}

fn escalate(f: &mut Floor, id: ContactId, agent: &str, queue: &str) -> Result<Applied, CoreError> {
    f.apply(Command::Escalate {
        contact: id,
        agent: agent.into(),
        queue: queue.into(),
        summary: "wants to dispute a charge of 42.50".into(),
        fields: BTreeMap::from([
            ("account".to_string(), "A-1001".to_string()),
            ("intent".to_string(), "billing-dispute".to_string()),
        ]),
        required_skills: vec![],
    })
}

/// `bot-chat` (a bot, wrap-up 30 s) and `billing`, served by `ann`.
fn floor() -> Floor {
    let mut f = Floor::new();
    f.queue("bot-chat", |q| {
        q.channels = vec![Channel::Chat];
        q.wrap_up_secs = 30;
        q.required_skills = vec![SkillLevel::new("intake", 1).unwrap()];
    });
    f.queue("billing", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 3).unwrap()];
    });
    bot(&mut f, "chatbot", None);
    f.agent("ann", &[("billing", 5)]);
    f
}

#[test]
fn a_bot_takes_many_chats_at_once_and_never_wraps_up() {
    let mut f = floor();
    let mut chats = Vec::new();
    for _ in 0..200 {
        let chat = f.enqueue("bot-chat", Channel::Chat);
        assert_eq!(f.holder(chat).as_deref(), Some("chatbot"));
        f.accept(chat);
        chats.push(chat);
    }
    let view = f.engine.agent_view("chatbot").unwrap();
    assert_eq!(view.capacity, AgentKind::BOT_DEFAULT_CAPACITY);
    assert_eq!(view.load, 200 * 33);
    f.complete(chats[0]);
    let view = f.engine.agent_view("chatbot").unwrap();
    assert_eq!(view.wrap_up_until, None, "a bot never wraps up");
    assert_eq!(view.presence, PresenceView::Ready);
}

#[test]
fn an_escalated_chat_reaches_a_person_with_the_bots_summary_in_context_and_history() {
    let mut f = floor();
    f.presence("ann", Presence::NotReady("lunch".into()));
    let chat = f
        .enqueue_with("bot-chat", Channel::Chat, |c| {
            c.customer_id = "cust-5".into();
            c.context = BTreeMap::from([("order".to_string(), "O-9".to_string())]);
        })
        .unwrap();
    f.accept(chat);
    f.wait(40.0);
    let Applied::Contact(view) = escalate(&mut f, chat, "chatbot", "billing").unwrap() else {
        panic!("a contact")
    };
    assert_eq!(view.state, ContactState::Waiting);
    assert_eq!(&*view.queue, "billing");
    let context = &view.context;
    assert_eq!(context["bot.summary"], "wants to dispute a charge of 42.50");
    assert_eq!(context["account"], "A-1001");
    assert_eq!(context["order"], "O-9", "what the frontend gave is kept");
    assert_eq!(&*view.transfers[0].from_agent, "chatbot");
    f.presence("ann", Presence::Ready);
    assert_eq!(f.holder(chat).as_deref(), Some("ann"));
    let decision = f.decisions().last().copied().cloned().unwrap();
    assert_eq!(decision.contact, chat);
    let leg = decision.history.last().expect("the bot's leg");
    assert_eq!(leg.agent.as_deref(), Some("chatbot"));
    assert_eq!(leg.outcome, InteractionOutcome::Escalated);
    assert_eq!(leg.outcome.name(), "escalated");
}

#[test]
fn containment_counts_what_bots_finish_against_what_they_escalate() {
    let mut f = floor();
    let mut chats = Vec::new();
    for _ in 0..4 {
        let chat = f.enqueue("bot-chat", Channel::Chat);
        f.accept(chat);
        chats.push(chat);
    }
    for &chat in &chats[..3] {
        f.complete(chat);
    }
    escalate(&mut f, chats[3], "chatbot", "billing").unwrap();
    let snapshot = |f: &Floor, name: &str| {
        f.engine
            .queue_snapshots()
            .into_iter()
            .find(|q| &*q.config.name == name)
            .unwrap()
    };
    let bot_queue = snapshot(&f, "bot-chat");
    assert_eq!(bot_queue.counters.bot_contained, 3);
    assert_eq!(bot_queue.counters.bot_escalated, 1);
    // People's work is not containment.
    f.accept(chats[3]);
    f.complete(chats[3]);
    let billing = snapshot(&f, "billing");
    assert_eq!(
        (billing.counters.completed, billing.counters.bot_contained),
        (1, 0)
    );
}

#[test]
fn a_customer_returning_after_a_bot_is_not_held_for_the_bot() {
    let mut f = Floor::new();
    f.queue("chat", |q| q.affinity_wait_secs = 60);
    bot(&mut f, "chatbot", None);
    let first = f
        .enqueue_with("chat", Channel::Chat, |c| c.customer_id = "cust".into())
        .unwrap();
    f.accept(first);
    f.complete(first);
    f.agent("ann", &[]);
    // The bot is busy with nothing, yet the returning customer prefers nobody (a bot is not
    // "the agent they know"): the longest idle takes it.
    let again = f
        .enqueue_with("chat", Channel::Chat, |c| c.customer_id = "cust".into())
        .unwrap();
    let decision = f.decisions().last().copied().cloned().unwrap();
    assert_eq!(decision.contact, again);
    assert_eq!(decision.preferred_met, None);
}

#[test]
fn bad_escalations_are_refused_and_change_nothing() {
    let mut f = floor();
    let chat = f.enqueue("bot-chat", Channel::Chat);
    f.accept(chat);
    let billing_chat = f.enqueue("billing", Channel::Chat);
    f.accept(billing_chat);
    let before = f.engine.image();
    // A person does not escalate.
    let err = escalate(&mut f, billing_chat, "ann", "bot-chat").unwrap_err();
    assert!(matches!(err, CoreError::NotABot { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Precondition);
    // To a queue that does not exist: the context stays as it was.
    let err = escalate(&mut f, chat, "chatbot", "nowhere").unwrap_err();
    assert_eq!(err.class(), ErrorClass::NotFound, "{err}");
    // A contact the bot does not hold.
    let err = escalate(&mut f, billing_chat, "chatbot", "billing").unwrap_err();
    assert_eq!(err.class(), ErrorClass::Precondition, "{err}");
    // A summary past the context limits.
    let err = f
        .apply(Command::Escalate {
            contact: chat,
            agent: "chatbot".into(),
            queue: "billing".into(),
            summary: "x".repeat(9_000),
            fields: BTreeMap::new(),
            required_skills: vec![],
        })
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Invalid, "{err}");
    assert_eq!(f.engine.image(), before, "refusals change nothing");
}

#[test]
fn a_bots_capacity_may_be_large_and_a_persons_may_not() {
    let mut f = Floor::new();
    let mut spec = AgentSpec::new("voicebot");
    spec.kind = AgentKind::Bot;
    spec.capacity = Some(500_000);
    f.apply(Command::PutAgent(spec.clone())).unwrap();
    spec.capacity = Some(AgentKind::BOT_MAX_CAPACITY + 1);
    assert!(f.apply(Command::PutAgent(spec)).is_err());
    let mut person = AgentSpec::new("ann");
    person.capacity = Some(500_000);
    let err = f.apply(Command::PutAgent(person)).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Invalid);
}
