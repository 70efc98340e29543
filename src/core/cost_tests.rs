//! Channel costs per queue: a queue may say what its contacts cost of an agent's capacity, by
//! channel, instead of the server's figures.

use super::error::ErrorClass;
use super::tests::Floor;
use super::*;

/// `vip` emails cost a whole agent (100); `std` emails the server's 50.
fn floor() -> Floor {
    let mut f = Floor::new();
    f.queue("std", |_| {});
    f.queue("vip", |q| {
        q.channel_costs = [(Channel::Email, 100)].into();
    });
    f
}

fn load(f: &Floor, agent: &str) -> u32 {
    f.engine.agent_view(agent).unwrap().load
}

#[test]
fn a_vip_email_costs_what_its_queue_says() {
    let mut f = floor();
    f.agent("ann", &[]);
    let vip = f.enqueue("vip", Channel::Email);
    assert_eq!(f.holder(vip).as_deref(), Some("ann"));
    assert_eq!(load(&f, "ann"), 100);
    // ann is full: a standard email waits.
    let std = f.enqueue("std", Channel::Email);
    assert_eq!(f.state(std), ContactState::Waiting);
    f.accept(vip);
    f.complete(vip);
    // Two standard emails fit where one VIP email did; a VIP email does not fit beside them.
    assert_eq!(f.holder(std).as_deref(), Some("ann"));
    let std2 = f.enqueue("std", Channel::Email);
    assert_eq!(f.holder(std2).as_deref(), Some("ann"));
    assert_eq!(load(&f, "ann"), 100);
    f.accept(std);
    f.complete(std);
    let vip2 = f.enqueue("vip", Channel::Email);
    assert_eq!(
        f.state(vip2),
        ContactState::Waiting,
        "50 units free, the VIP email costs 100"
    );
    f.accept(std2);
    f.complete(std2);
    assert_eq!(f.holder(vip2).as_deref(), Some("ann"));
}

#[test]
fn a_contact_takes_the_cost_of_the_queue_it_is_transferred_to() {
    let mut f = floor();
    f.agent("ann", &[]);
    let vip = f.enqueue("vip", Channel::Email);
    f.accept(vip);
    f.agent("bo", &[]);
    let held = f.enqueue("std", Channel::Email);
    assert_eq!(f.holder(held).as_deref(), Some("bo"));
    f.accept(held);
    // bo has 50 units free: the VIP email, transferred to std, costs 50 there and fits.
    f.apply(Command::Transfer {
        contact: vip,
        agent: "ann".into(),
        queue: "std".into(),
        required_skills: vec![],
        reason: "not a VIP matter".into(),
        to_agent: None,
    })
    .unwrap();
    assert_eq!(f.holder(vip).as_deref(), Some("bo"));
    assert_eq!(load(&f, "bo"), 100);
}

#[test]
fn changing_a_queues_costs_recosts_its_waiting_contacts_and_routes_them() {
    let mut f = floor();
    f.agent("ann", &[]);
    let std = f.enqueue("std", Channel::Email);
    f.accept(std);
    let vip = f.enqueue("vip", Channel::Email);
    assert_eq!(f.state(vip), ContactState::Waiting);
    // The VIP queue goes back to the server's cost: the waiting email fits at once.
    f.queue("vip", |_| {});
    assert_eq!(f.holder(vip).as_deref(), Some("ann"));
    assert_eq!(load(&f, "ann"), 100);
    // Raised again: what ann holds keeps the cost it was offered at.
    f.queue("vip", |q| q.channel_costs = [(Channel::Email, 100)].into());
    assert_eq!(load(&f, "ann"), 100);
    f.accept(vip);
    f.complete(vip);
    assert_eq!(load(&f, "ann"), 50);
}

#[test]
fn an_offer_that_returns_waits_at_its_queues_cost_of_now() {
    let mut f = floor();
    f.agent("ann", &[]);
    let std = f.enqueue("std", Channel::Email);
    f.accept(std);
    // Only bo has room for a VIP email (100): it rings there at that cost.
    f.agent("bo", &[]);
    let vip = f.enqueue("vip", Channel::Email);
    assert_eq!(f.holder(vip).as_deref(), Some("bo"));
    assert_eq!(load(&f, "bo"), 100);
    // While it rings, the VIP queue goes back to the server's cost (50); then bo logs out.
    f.queue("vip", |_| {});
    f.presence("bo", Presence::Offline);
    // Back in line at 50, it fits beside ann's standard email at once.
    assert_eq!(f.holder(vip).as_deref(), Some("ann"));
    assert_eq!(load(&f, "ann"), 100);
}

#[test]
fn a_callback_costs_its_queues_callback_cost() {
    let mut f = Floor::new();
    f.queue("vip", |q| {
        q.channel_costs = [(Channel::Callback, 40)].into()
    });
    f.agent("ann", &[]);
    f.presence("ann", Presence::NotReady("break".into()));
    let call = f.enqueue("vip", Channel::Voice);
    f.apply(Command::RequestCallback {
        contact: call,
        request: CallbackRequest::default(),
    })
    .unwrap();
    f.presence("ann", Presence::Ready);
    assert_eq!(f.holder(call).as_deref(), Some("ann"));
    assert_eq!(load(&f, "ann"), 40);
}

#[test]
fn costs_out_of_range_are_refused_and_change_nothing() {
    let mut f = floor();
    let before = f.engine.image();
    for cost in [0, 10_001] {
        let mut q = QueueConfig::new("vip");
        q.channel_costs = [(Channel::Chat, cost)].into();
        let err = f.apply(Command::PutQueue(Box::new(q))).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Invalid, "{err}");
        assert!(err.to_string().contains("channel cost"), "{err}");
    }
    assert_eq!(f.engine.image(), before);
}

#[test]
fn the_queue_costs_read_from_toml() {
    let q: QueueConfig = toml::from_str(
        r#"
        name = "vip"
        channel_costs = { email = 100, chat = 50 }
        "#,
    )
    .unwrap();
    assert_eq!(q.channel_costs.get(&Channel::Email), Some(&100));
    assert_eq!(q.channel_costs.get(&Channel::Chat), Some(&50));
    assert!(toml::from_str::<QueueConfig>("name = \"q\"\nchannel_costs = { fax = 1 }").is_err());
}
