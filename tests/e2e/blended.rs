//! Blended floors over gRPC: a call interrupting an agent's emails (the emails' handle clocks
//! pause), a bot escalating a chat to a person with its summary, work outside the router, and
//! channel costs per queue.

use std::collections::HashMap;
use std::time::Duration;

use routerd::proto as pb;
use routerd::proto::session_event::Event as Out;
use routerd::proto::session_request::{Action, Complete, OfferAnswer};

use crate::common::{Session, TestServer, enqueue_request};

async fn next_offer(session: &mut Session) -> pb::Offer {
    tokio::time::timeout(
        Duration::from_secs(10),
        session.until(|e| match e {
            Out::Offer(o) => Some(o),
            _ => None,
        }),
    )
    .await
    .expect("an offer in time")
}

async fn accept(session: &mut Session, contact_id: u64) {
    session
        .request(Action::Accept(OfferAnswer { contact_id }))
        .await;
}

async fn complete(session: &mut Session, contact_id: u64) {
    session
        .request(Action::Complete(Complete {
            contact_id,
            outcome: None,
        }))
        .await;
}

async fn get_agent(s: &mut TestServer, id: &str) -> pb::Agent {
    s.agents
        .get_agent(pb::GetAgentRequest {
            agent_id: id.into(),
            ..Default::default()
        })
        .await
        .expect("get agent")
        .into_inner()
}

async fn enqueue(s: &mut TestServer, queue: &str, channel: pb::Channel) -> u64 {
    s.enqueue(queue, channel, &[]).await.contact_id
}

/// An agent answering two emails (which fill its capacity) receives a call; while it is on the
/// call the emails are paused, and the pause is counted when the call ends.
#[tokio::test]
async fn an_agent_on_emails_receives_a_call_and_the_emails_pause() {
    let mut s = TestServer::start().await;
    s.put_queue("mail", |q| q.channels = vec![pb::Channel::Email as i32])
        .await;
    s.put_queue("phone", |q| q.channels = vec![pb::Channel::Voice as i32])
        .await;
    s.put_agent("ann", &[]).await;
    let mut ann = s.session("ann", true).await;
    let mut emails = Vec::new();
    for _ in 0..2 {
        let id = enqueue(&mut s, "mail", pb::Channel::Email).await;
        assert_eq!(next_offer(&mut ann).await.contact.unwrap().id, id);
        accept(&mut ann, id).await;
        emails.push(id);
    }
    let call = enqueue(&mut s, "phone", pb::Channel::Voice).await;
    let offer = next_offer(&mut ann).await;
    assert_eq!(offer.contact.as_ref().unwrap().id, call);
    assert!(offer.contact.unwrap().interrupting);
    accept(&mut ann, call).await;
    let agent = get_agent(&mut s, "ann").await;
    assert_eq!(agent.interrupted_by_contact, call);
    assert_eq!(agent.load, 200, "the emails and the call");
    let email = s.contact(emails[0]).await;
    assert!(email.paused_since_ms > 0, "paused while the call lasts");
    tokio::time::sleep(Duration::from_millis(300)).await;
    complete(&mut ann, call).await;
    let email = s.contact(emails[0]).await;
    assert_eq!(email.paused_since_ms, 0, "resumed");
    assert!(email.paused_ms >= 300, "paused {} ms", email.paused_ms);
    let agent = get_agent(&mut s, "ann").await;
    assert_eq!((agent.interrupted_by_contact, agent.load), (0, 100));
}

/// A chat handled by a bot is escalated to a person: the person's offer carries the bot's
/// summary and collected fields in the context, and the bot's leg in the history; the bot's
/// queue counts the escalation against its containment. A person cannot escalate.
#[tokio::test]
async fn a_bot_escalates_a_chat_and_the_person_sees_its_summary_and_history() {
    let mut s = TestServer::start().await;
    let skill = |name: &str| pb::Skill {
        name: name.into(),
        level: 1,
    };
    s.put_queue("bot-chat", |q| {
        q.channels = vec![pb::Channel::Chat as i32];
        q.required_skills = vec![skill("intake")];
    })
    .await;
    s.put_queue("billing", |q| q.required_skills = vec![skill("billing")])
        .await;
    s.agents
        .put_agent(pb::PutAgentRequest {
            agent: Some(pb::AgentSpec {
                id: "chatbot".into(),
                skills: vec![skill("intake")],
                kind: pb::AgentKind::Bot as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("put bot");
    s.put_agent("ann", &[("billing", 5)]).await;
    let mut bot = s.session("chatbot", true).await;
    let mut request = enqueue_request("bot-chat", pb::Channel::Chat, &[("order", "O-9")]);
    request.customer_id = "cust-5".into();
    let chat = s
        .contacts
        .enqueue_contact(request)
        .await
        .unwrap()
        .into_inner()
        .contact_id;
    assert_eq!(next_offer(&mut bot).await.contact.unwrap().id, chat);
    accept(&mut bot, chat).await;
    // A person cannot escalate; the bot can.
    let mut escalation = pb::EscalateContactRequest {
        contact_id: chat,
        agent_id: "ann".into(),
        queue: "billing".into(),
        summary: "disputes a charge of 42.50".into(),
        fields: HashMap::from([("account".to_string(), "A-1001".to_string())]),
        required_skills: vec![],
    };
    let err = s
        .contacts
        .escalate_contact(escalation.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err}");
    escalation.agent_id = "chatbot".into();
    let escalated = s
        .contacts
        .escalate_contact(escalation)
        .await
        .expect("escalate")
        .into_inner()
        .contact
        .unwrap();
    assert_eq!(escalated.queue, "billing");
    let mut ann = s.session("ann", true).await;
    let offer = next_offer(&mut ann).await;
    let contact = offer.contact.unwrap();
    assert_eq!(contact.id, chat);
    assert_eq!(contact.context["bot.summary"], "disputes a charge of 42.50");
    assert_eq!(contact.context["account"], "A-1001");
    assert_eq!(contact.context["order"], "O-9");
    let leg = offer.history.last().expect("the bot's leg");
    assert_eq!(
        (leg.agent_id.as_str(), leg.outcome.as_str()),
        ("chatbot", "escalated")
    );
    let stats = s.queue_stats("bot-chat").await;
    assert_eq!((stats.bot_contained, stats.bot_escalated), (0, 1));
    assert_eq!(stats.containment, 0.0);
    // The reporting interval and the day count it too.
    let today = stats.today.expect("today");
    assert_eq!((today.bot_contained, today.bot_escalated), (0, 1));
    assert_eq!(stats.interval.expect("interval").bot_escalated, 1);
}

/// Work registered from outside the router holds the agent's capacity until it ends; a VIP
/// queue's emails cost a whole agent.
#[tokio::test]
async fn external_work_holds_capacity_and_queue_costs_apply() {
    let mut s = TestServer::start().await;
    s.put_queue("sales", |_| {}).await;
    s.put_queue("vip", |q| {
        q.channel_costs = vec![pb::ChannelCost {
            channel: pb::Channel::Email as i32,
            cost: 100,
        }]
    })
    .await;
    s.put_agent("ann", &[]).await;
    let mut ann = s.session("ann", true).await;
    let started = s
        .agents
        .start_external_work(pb::StartExternalWorkRequest {
            agent_id: "ann".into(),
            work_id: "out-1".into(),
            channel: pb::Channel::Voice as i32,
            cost: None,
            label: "outbound: renewal".into(),
        })
        .await
        .expect("start")
        .into_inner()
        .agent
        .unwrap();
    assert_eq!(started.load, 100);
    assert_eq!(started.external_work[0].work_id, "out-1");
    let call = enqueue(&mut s, "sales", pb::Channel::Voice).await;
    assert_eq!(
        s.contact(call).await.state,
        pb::ContactState::Waiting as i32
    );
    // Twice the same id, or no room: refused.
    let again = pb::StartExternalWorkRequest {
        agent_id: "ann".into(),
        work_id: "out-1".into(),
        channel: pb::Channel::Chat as i32,
        cost: None,
        label: String::new(),
    };
    let err = s.agents.start_external_work(again).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err}");
    s.agents
        .end_external_work(pb::EndExternalWorkRequest {
            agent_id: "ann".into(),
            work_id: "out-1".into(),
        })
        .await
        .expect("end");
    assert_eq!(next_offer(&mut ann).await.contact.unwrap().id, call);
    accept(&mut ann, call).await;
    complete(&mut ann, call).await;
    // A VIP email costs 100: with a standard email held, it waits.
    let std = enqueue(&mut s, "sales", pb::Channel::Email).await;
    assert_eq!(next_offer(&mut ann).await.contact.unwrap().id, std);
    accept(&mut ann, std).await;
    let vip = enqueue(&mut s, "vip", pb::Channel::Email).await;
    assert_eq!(s.contact(vip).await.state, pb::ContactState::Waiting as i32);
    complete(&mut ann, std).await;
    assert_eq!(next_offer(&mut ann).await.contact.unwrap().id, vip);
    let queue = s
        .queues
        .get_queue(pb::GetQueueRequest { name: "vip".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(queue.channel_costs.len(), 1);
}
