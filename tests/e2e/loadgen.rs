//! The load generator against a real server: every contact it enqueues is offered, answered and
//! completed, its counts agree with the server's, and the report is well-formed JSON.

use clap::Parser;
use routerd::loadgen::{LoadgenConfig, run};

use crate::common::TestServer;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    config: LoadgenConfig,
}

fn config(args: &[&str]) -> LoadgenConfig {
    Args::parse_from(std::iter::once("loadgen").chain(args.iter().copied())).config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_drives_contacts_through_the_whole_cycle_and_cleans_up() {
    let mut s = TestServer::start().await;
    let target = format!("http://{}", s.addr);
    for batch in ["1", "10"] {
        let report = run(config(&[
            "--target",
            &target,
            "--agents",
            "4",
            "--duration",
            "0.5",
            "--concurrency",
            "4",
            "--batch",
            batch,
            "--subscribers",
            "2",
            "--quiet",
        ]))
        .await
        .expect("the run completes");
        assert!(report.enqueued > 0, "batch {batch}: nothing enqueued");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.completed, report.enqueued, "batch {batch}");
        assert_eq!(report.enqueue_to_offer_us.count, report.enqueued);
        let server = report.server.as_ref().expect("queue figures");
        assert_eq!(server.offered, report.enqueued);
        assert_eq!(server.answered, report.enqueued);
        assert!(report.subscriber_events > 0);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["enqueued"].as_u64(), Some(report.enqueued));
        assert!(report.to_table().contains("contacts/s"));
    }
    // It removed its agents and queue.
    let snapshot = s.snapshot().await;
    assert!(snapshot.queues.iter().all(|q| q.queue != "loadgen"));
    let agents = s
        .agents
        .list_agents(routerd::proto::ListAgentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert!(agents.is_empty(), "{} agents left", agents.len());
}
