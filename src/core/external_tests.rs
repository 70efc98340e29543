//! Work outside the router: registered by the agent's desktop, it holds capacity and shows in
//! the agent's state and occupancy until it ends.

use super::error::ErrorClass;
use super::tests::Floor;
use super::*;

fn start(f: &mut Floor, agent: &str, id: &str, channel: Channel) -> Result<Applied, CoreError> {
    f.apply(Command::StartExternalWork {
        agent: agent.into(),
        id: id.into(),
        channel,
        cost: None,
        label: "outbound: renewal".into(),
    })
}

fn end(f: &mut Floor, agent: &str, id: &str) -> Result<Applied, CoreError> {
    f.apply(Command::EndExternalWork {
        agent: agent.into(),
        id: id.into(),
    })
}

#[test]
fn an_outbound_call_holds_the_agent_until_it_ends() {
    let mut f = Floor::new();
    f.queue("sales", |_| {});
    f.agent("ann", &[]);
    let Applied::Agent { agent, .. } = start(&mut f, "ann", "out-1", Channel::Voice).unwrap()
    else {
        panic!("an agent")
    };
    assert_eq!(agent.load, 100);
    assert_eq!(agent.external.len(), 1);
    assert_eq!(&*agent.external[0].label, "outbound: renewal");
    assert_eq!(agent.external[0].started_at, f.now);
    // Full: an inbound call waits.
    let call = f.enqueue("sales", Channel::Voice);
    assert_eq!(f.state(call), ContactState::Waiting);
    f.wait(90.0);
    // Busy time counts while the outbound call lasts.
    let view = f.engine.agent_view("ann").unwrap();
    assert_eq!(view.occupancy_at(f.now).busy_ms, 90_000);
    end(&mut f, "ann", "out-1").unwrap();
    assert_eq!(f.holder(call).as_deref(), Some("ann"), "taken at once");
    assert!(f.engine.agent_view("ann").unwrap().external.is_empty());
}

#[test]
fn external_work_fits_beside_contacts_within_capacity_and_limits() {
    let mut f = Floor::new();
    f.queue("mail", |_| {});
    f.agent("ann", &[]);
    let email = f.enqueue("mail", Channel::Email);
    f.accept(email);
    // 50 of 100 held: a 50-unit task fits, then nothing more.
    f.apply(Command::StartExternalWork {
        agent: "ann".into(),
        id: "crm-task".into(),
        channel: Channel::Social,
        cost: Some(50),
        label: String::new(),
    })
    .unwrap();
    let err = start(&mut f, "ann", "out-1", Channel::Voice).unwrap_err();
    assert!(matches!(err, CoreError::NoRoomForWork { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Precondition);
    let another = f.enqueue("mail", Channel::Email);
    assert_eq!(f.state(another), ContactState::Waiting);
    end(&mut f, "ann", "crm-task").unwrap();
    assert_eq!(f.holder(another).as_deref(), Some("ann"));
}

#[test]
fn it_stays_through_presence_changes_and_keeps_the_agent_on_the_floor() {
    let mut f = Floor::new();
    f.agent("ann", &[]);
    f.presence("ann", Presence::NotReady("outbound".into()));
    start(&mut f, "ann", "out-1", Channel::Voice).unwrap();
    f.presence("ann", Presence::Offline);
    assert_eq!(f.engine.agent_view("ann").unwrap().load, 100);
    let err = f
        .apply(Command::RemoveAgent { id: "ann".into() })
        .unwrap_err();
    assert!(matches!(err, CoreError::AgentHoldsContacts { .. }), "{err}");
    end(&mut f, "ann", "out-1").unwrap();
    f.apply(Command::RemoveAgent { id: "ann".into() }).unwrap();
}

#[test]
fn bad_external_work_is_refused_and_changes_nothing() {
    let mut f = Floor::new();
    f.agent("ann", &[]);
    f.apply(Command::PutAgent(AgentSpec::new("bo"))).unwrap();
    start(&mut f, "ann", "out-1", Channel::Voice).unwrap();
    let before = f.engine.image();
    let cases: Vec<(Command, ErrorClass)> = vec![
        (start_cmd("nobody", "x", None), ErrorClass::NotFound),
        (start_cmd("bo", "x", None), ErrorClass::Precondition),
        (start_cmd("ann", "out-1", None), ErrorClass::Exists),
        (start_cmd("ann", "", None), ErrorClass::Invalid),
        (start_cmd("ann", "y", Some(0)), ErrorClass::Invalid),
        (start_cmd("ann", "y", Some(10_001)), ErrorClass::Invalid),
        (
            Command::EndExternalWork {
                agent: "ann".into(),
                id: "never".into(),
            },
            ErrorClass::NotFound,
        ),
    ];
    for (command, class) in cases {
        let err = f.apply(command.clone()).unwrap_err();
        assert_eq!(err.class(), class, "{command:?}: {err}");
    }
    assert_eq!(f.engine.image(), before, "refusals change nothing");
}

fn start_cmd(agent: &str, id: &str, cost: Option<u32>) -> Command {
    Command::StartExternalWork {
        agent: agent.into(),
        id: id.into(),
        channel: Channel::Chat,
        cost,
        label: String::new(),
    }
}
