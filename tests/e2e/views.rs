//! Read views through gRPC: GetAgent, ListAgents (paged, filtered), GetQueue and GetSnapshot read
//! what the engine published after its last durable batch, and a caller reads its own writes.

use routerd::proto as pb;
use tonic::Code;

use crate::common::TestServer;

fn ids(agents: &[pb::Agent]) -> Vec<String> {
    agents
        .iter()
        .map(|a| a.spec.as_ref().map(|s| s.id.clone()).unwrap_or_default())
        .collect()
}

async fn list(server: &mut TestServer, r: pb::ListAgentsRequest) -> pb::ListAgentsResponse {
    server
        .agents
        .list_agents(r)
        .await
        .expect("lists")
        .into_inner()
}

#[tokio::test]
async fn agents_page_in_id_order_and_filter_by_presence_queue_and_skill() {
    let mut server = TestServer::start().await;
    server
        .put_queue("billing", |q| {
            q.required_skills = vec![pb::Skill {
                name: "billing".into(),
                level: 5,
            }]
        })
        .await;
    server.put_agent("e", &[("billing", 9)]).await;
    server
        .put_agent("a", &[("billing", 5), ("lang:es", 7)])
        .await;
    server.put_agent("c", &[("billing", 4)]).await;
    server.put_agent("b", &[("lang:es", 9)]).await;
    server.put_agent("d", &[]).await;
    server.set_ready("a").await;
    server.set_ready("c").await;

    // Pages of two, in id order, each continuing where the last stopped.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(
            &mut server,
            pb::ListAgentsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await;
        pages += 1;
        seen.extend(ids(&page.agents));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);

    let ready = list(
        &mut server,
        pb::ListAgentsRequest {
            presences: vec![pb::AgentPresence::Ready as i32],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&ready.agents), ["a", "c"]);
    assert!(ready.next_page_token.is_empty());
    let for_billing = list(
        &mut server,
        pb::ListAgentsRequest {
            queue: "billing".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&for_billing.agents), ["a", "e"], "billing:5 or more");
    let spanish = list(
        &mut server,
        pb::ListAgentsRequest {
            skill: "lang:es".into(),
            skill_level: 8,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&spanish.agents), ["b"]);
    // A filtered page that fills exactly says there is no more only when there is none.
    let one = list(
        &mut server,
        pb::ListAgentsRequest {
            page_size: 1,
            presences: vec![pb::AgentPresence::Ready as i32],
            page_token: "a".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&one.agents), ["c"]);
    assert!(one.next_page_token.is_empty());

    // Bad requests are refused, naming the problem.
    let refused = |r: pb::ListAgentsRequest| {
        let mut agents = server.agents.clone();
        async move { agents.list_agents(r).await.expect_err("refused") }
    };
    let e = refused(pb::ListAgentsRequest {
        page_size: 5_000,
        ..Default::default()
    })
    .await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = refused(pb::ListAgentsRequest {
        queue: "nowhere".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = refused(pb::ListAgentsRequest {
        presences: vec![42],
        ..Default::default()
    })
    .await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = refused(pb::ListAgentsRequest {
        skill: "Not A Skill".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    server.shut_down().await;
}

#[tokio::test]
async fn a_caller_reads_its_own_writes_from_the_view() {
    let mut server = TestServer::start().await;
    server.put_queue("sales", |_| {}).await;
    server.put_agent("ana", &[]).await;
    server.set_ready("ana").await;
    let agent = server
        .agents
        .get_agent(pb::GetAgentRequest {
            agent_id: "ana".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(agent.presence, pb::AgentPresence::Ready as i32);
    let queue = server
        .queues
        .get_queue(pb::GetQueueRequest {
            name: "sales".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(queue.version, 1);
    let reply = server.enqueue("sales", pb::Channel::Voice, &[]).await;
    assert_eq!(reply.position, 0, "offered to ana at once");
    let snapshot = server.snapshot().await;
    let sales = snapshot.queues.iter().find(|q| q.queue == "sales").unwrap();
    assert_eq!((sales.offered_now, sales.agents_busy), (1, 1));
    assert_eq!((snapshot.agents_logged_in, snapshot.agents_ready), (1, 0));
    assert!(snapshot.last_sequence >= 4);
    // Gone from the view as soon as it is gone from the engine.
    let e = server
        .agents
        .get_agent(pb::GetAgentRequest {
            // The field's first name still works.
            id: "nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    server.shut_down().await;
}
