//! Interruptible work: an agent whose only work is emails may be offered a call although it has
//! no room; once it accepts, the emails pause (their handle clock stops) until the call ends.

use super::tests::Floor;
use super::*;

/// `mail` and `phone` (no wrap-up), and `ann` (capacity 100: two emails fill it).
fn floor() -> Floor {
    let mut f = Floor::new();
    f.queue("mail", |q| q.channels = vec![Channel::Email]);
    f.queue("phone", |q| q.channels = vec![Channel::Voice]);
    f.agent("ann", &[]);
    f
}

fn handled_ms(f: &Floor, queue: &str) -> u64 {
    f.engine
        .queue_snapshots()
        .into_iter()
        .find(|q| &*q.config.name == queue)
        .unwrap()
        .counters
        .total_handle_ms
}

fn two_emails(f: &mut Floor) -> (ContactId, ContactId) {
    let a = f.enqueue("mail", Channel::Email);
    f.accept(a);
    let b = f.enqueue("mail", Channel::Email);
    f.accept(b);
    assert_eq!(f.engine.agent_view("ann").unwrap().load, 100);
    (a, b)
}

#[test]
fn a_call_interrupts_an_agent_on_emails_and_the_emails_pause_until_it_ends() {
    let mut f = floor();
    let (a, b) = two_emails(&mut f);
    f.wait(60.0);
    let call = f.enqueue("phone", Channel::Voice);
    assert_eq!(
        f.holder(call).as_deref(),
        Some("ann"),
        "offered although full"
    );
    let view = f.engine.agent_view("ann").unwrap();
    assert_eq!(view.interrupted_by, Some(call));
    assert_eq!(view.load, 200, "the emails' 100 and the call's 100");
    // Ringing: the emails still run.
    assert_eq!(f.engine.contact_view(a).unwrap().paused_since, None);
    f.wait(5.0);
    f.accept(call);
    assert_eq!(f.engine.contact_view(a).unwrap().paused_since, Some(f.now));
    f.wait(120.0);
    f.complete(call);
    let email = f.engine.contact_view(a).unwrap();
    assert_eq!((email.paused_since, email.paused_ms), (None, 120_000));
    assert_eq!(f.engine.agent_view("ann").unwrap().interrupted_by, None);
    f.wait(15.0);
    // Answered 200 s ago, 120 s of it paused: 80 s of handling.
    f.complete(a);
    assert_eq!(handled_ms(&f, "mail"), 80_000);
    // An email completed during a call counts no handling for the pause under way: answered
    // 230 s ago, paused 120 s and then 30 s.
    let call = f.enqueue("phone", Channel::Voice);
    f.accept(call);
    f.wait(30.0);
    f.complete(b);
    assert_eq!(handled_ms(&f, "mail"), 80_000 + 80_000);
}

#[test]
fn an_agent_with_room_is_chosen_before_an_interruption() {
    let mut f = floor();
    two_emails(&mut f);
    f.agent("bo", &[]);
    let call = f.enqueue("phone", Channel::Voice);
    assert_eq!(f.holder(call).as_deref(), Some("bo"));
    assert_eq!(f.engine.agent_view("ann").unwrap().interrupted_by, None);
}

#[test]
fn only_interruptible_work_is_interrupted() {
    // A chat is not interruptible by default.
    let mut f = floor();
    f.queue("chat", |q| q.channels = vec![Channel::Chat]);
    let email = f.enqueue("mail", Channel::Email);
    f.accept(email);
    let chat = f.enqueue("chat", Channel::Chat);
    f.accept(chat);
    let call = f.enqueue("phone", Channel::Voice);
    assert_eq!(f.state(call), ContactState::Waiting);
    // An email still ringing is not interrupted either.
    let mut f = floor();
    let email = f.enqueue("mail", Channel::Email);
    f.accept(email);
    let ringing = f.enqueue("mail", Channel::Email);
    assert_eq!(f.holder(ringing).as_deref(), Some("ann"));
    let call = f.enqueue("phone", Channel::Voice);
    assert_eq!(f.state(call), ContactState::Waiting);
    // Once it is accepted, the agent's work is all interruptible: the waiting call is offered.
    f.accept(ringing);
    assert_eq!(f.holder(call).as_deref(), Some("ann"));
    let decision = f.decisions().last().copied().cloned().unwrap();
    assert_eq!(
        (decision.contact, decision.trigger),
        (call, Trigger::WorkInterruptible)
    );
    // Nor does an email interrupt an email.
    let mut f = floor();
    two_emails(&mut f);
    let third = f.enqueue("mail", Channel::Email);
    assert_eq!(f.state(third), ContactState::Waiting);
}

#[test]
fn an_interrupted_agent_takes_nothing_else_until_the_call_ends() {
    let mut f = floor();
    let (a, _) = two_emails(&mut f);
    let call = f.enqueue("phone", Channel::Voice);
    f.accept(call);
    let email = f.enqueue("mail", Channel::Email);
    // Finishing an email during the call frees room, but the agent is on the call.
    f.complete(a);
    assert_eq!(f.state(email), ContactState::Waiting);
    let second_call = f.enqueue("phone", Channel::Voice);
    assert_eq!(f.state(second_call), ContactState::Waiting);
    f.complete(call);
    // Room for one email, and interruptible again: the email fits by room and the call by
    // interruption; priority-FIFO serves the one waiting longest, the email. Ringing, it
    // makes ann not interruptible, so the call keeps waiting.
    assert_eq!(f.holder(email).as_deref(), Some("ann"));
    assert_eq!(f.state(second_call), ContactState::Waiting);
    assert_eq!(f.engine.agent_view("ann").unwrap().interrupted_by, None);
}

#[test]
fn a_declined_interruption_pauses_nothing_and_the_call_goes_elsewhere() {
    let mut f = floor();
    let (a, _) = two_emails(&mut f);
    let call = f.enqueue("phone", Channel::Voice);
    f.reject(call);
    assert_eq!(f.engine.agent_view("ann").unwrap().interrupted_by, None);
    assert_eq!(f.engine.contact_view(a).unwrap().paused_ms, 0);
    assert_eq!(
        f.state(call),
        ContactState::Waiting,
        "not offered to ann again"
    );
    f.agent("bo", &[]);
    assert_eq!(f.holder(call).as_deref(), Some("bo"));
}

#[test]
fn interruption_follows_the_configuration() {
    let mut f = floor();
    let mut config = EngineConfig::default();
    config.interruptible.clear();
    f.apply(Command::Configure(config.clone())).unwrap();
    two_emails(&mut f);
    let call = f.enqueue("phone", Channel::Voice);
    assert_eq!(
        f.state(call),
        ContactState::Waiting,
        "nothing is interruptible"
    );
    config.interruptible = [(Channel::Email, vec![Channel::Email])].into();
    assert!(config.validate().is_err(), "email cannot interrupt email");
    config.interruptible = [(Channel::Email, vec![Channel::Voice])].into();
    f.apply(Command::Configure(config)).unwrap();
    // Interruptible again: the waiting call is offered at once.
    assert_eq!(f.holder(call).as_deref(), Some("ann"));
}

#[test]
fn a_call_held_for_its_preferred_agent_interrupts_that_agents_emails() {
    let mut f = floor();
    two_emails(&mut f);
    f.agent("bo", &[]);
    let call = f
        .enqueue_with("phone", Channel::Voice, |c| {
            c.preferred_agents = vec![PreferredAgent {
                agent: "ann".into(),
                score: 100,
            }];
            c.preferred_wait_secs = 60;
        })
        .unwrap();
    assert_eq!(
        f.holder(call).as_deref(),
        Some("ann"),
        "bo is free, but ann is preferred"
    );
    assert_eq!(
        f.engine.agent_view("ann").unwrap().interrupted_by,
        Some(call)
    );
}
