//! The wallboard in a real browser: headless Chromium driven through WebDriver (chromedriver),
//! against a real server fed over gRPC.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`CHROMEDRIVER` and `CHROMIUM` name others).
//! Without a driver the test says so and passes, so `cargo test` works on any machine; CI sets
//! `ROUTERD_REQUIRE_BROWSER=1` after installing them, and then a missing browser fails the test.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use routerd::proto as pb;

use crate::common::{PATIENCE, TestServer};

/// A chromedriver on a free loopback port, in a process group of its own; the whole group
/// (the driver and the browsers it started) is killed when dropped, so a test that fails
/// before it closes its session leaves no browser behind.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: kill takes no pointers; a negative pid names the driver's process group.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Option<Driver> {
        let path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        if !std::path::Path::new(&path).exists() {
            assert!(
                std::env::var_os("ROUTERD_REQUIRE_BROWSER").is_none(),
                "ROUTERD_REQUIRE_BROWSER is set but there is no {path} (apt-get install -y \
                 chromium chromium-driver)"
            );
            eprintln!(
                "no {path}: the wallboard browser test is skipped (see tests/e2e/wallboard.rs)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {path}: {e}"));
        Some(Driver { child, port })
    }

    async fn connect(&self) -> Client {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"],
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return client,
                // The driver may not be listening yet.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        }
    }
}

/// Waits until the element at `css` has text for which `wanted` holds; gives that text.
async fn text_until(browser: &Client, css: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if wanted(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never showed what was wanted; last text {last:?}");
}

#[tokio::test]
async fn the_wallboard_shows_the_floor_live_in_a_real_browser() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let mut server = TestServer::start().await;
    server.put_queue("sales", |_| {}).await;
    server.put_agent("a1", &[]).await;
    let browser = driver.connect().await;
    let page = format!("http://{}/", server.http);
    browser.goto(&page).await.expect("the wallboard loads");

    let waiting = r#".queue[data-queue="sales"] [data-field="waiting"]"#;
    text_until(&browser, waiting, |t| t == "0").await;
    text_until(&browser, "#status", |t| t == "live").await;

    // An enqueue shows on the card: the page re-reads the figures on the event (it has no
    // timer that would), so a change proves the live path.
    let enqueued = Instant::now();
    server.enqueue("sales", pb::Channel::Voice, &[]).await;
    text_until(&browser, waiting, |t| t == "1").await;
    eprintln!(
        "the wallboard showed the enqueue {:?} after it",
        enqueued.elapsed()
    );
    text_until(&browser, "#floor-waiting", |t| t == "1").await;
    // Entered, in the current interval's and today's columns.
    let entered = r#".queue[data-queue="sales"] table.periods tr:last-child"#;
    text_until(&browser, entered, |t| {
        t.split_whitespace().eq(["entered", "1", "1"])
    })
    .await;

    // An agent's state change shows in the table.
    let state = r#"tr[data-agent="a1"] [data-field="state"]"#;
    text_until(&browser, state, |t| t == "offline").await;
    server
        .set_state(
            "a1",
            pb::agent_state_change::State::NotReady(pb::agent_state_change::NotReady {
                reason: "lunch".into(),
            }),
        )
        .await;
    text_until(&browser, state, |t| t == "not ready (lunch)").await;

    // The decision ticker: a1 ready takes the waiting contact, which rings in a1's row.
    server.set_ready("a1").await;
    text_until(&browser, "#ticker li", |t| t.contains("→ a1 (sales)")).await;
    text_until(&browser, waiting, |t| t == "0").await;
    let contacts = r#"tr[data-agent="a1"] [data-field="contacts"]"#;
    text_until(&browser, contacts, |t| t == "sales · voice · ringing").await;

    let screenshot = browser.screenshot().await.expect("a screenshot");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wallboard");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("wallboard.png"), &screenshot).unwrap();
    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG");

    // The server goes away: the page says it is stale.
    server.shut_down().await;
    text_until(&browser, "#status", |t| {
        t.starts_with("stale") || t.starts_with("reconnecting")
    })
    .await;
    browser.close().await.expect("the session closes");
}

/// The ids of the agents the table shows, in order.
async fn agent_rows(browser: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    for row in browser
        .find_all(Locator::Css("#agents tbody tr"))
        .await
        .unwrap_or_default()
    {
        if let Ok(Some(id)) = row.attr("data-agent").await {
            ids.push(id);
        }
    }
    ids
}

/// Waits until the table shows exactly `wanted` (the page re-reads it on its own schedule).
async fn rows_until(browser: &Client, wanted: &[&str]) {
    let deadline = Instant::now() + PATIENCE;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = agent_rows(browser).await;
        if last == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the agents table never showed {wanted:?}; last {last:?}");
}

/// Waits until the button at `css` is disabled (or enabled).
async fn disabled_until(browser: &Client, css: &str, disabled: bool) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Ok(button) = browser.find(Locator::Css(css)).await
            && let Ok(Some(now)) = button.prop("disabled").await
            && (now == "true") == disabled
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{css} never became {}",
        if disabled { "disabled" } else { "enabled" }
    );
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

#[tokio::test]
async fn the_wallboard_pages_through_the_agents_and_shows_those_of_a_picked_queue() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let mut server = TestServer::start().await;
    let skill = |name: &str| pb::Skill {
        name: name.into(),
        level: 1,
    };
    server.put_queue("sales", |_| {}).await;
    server
        .put_queue("billing", |q| q.required_skills = vec![skill("billing")])
        .await;
    server.put_agent("a1", &[]).await;
    server.put_agent("a2", &[("billing", 3)]).await;
    server.put_agent("a3", &[("billing", 1)]).await;
    let browser = driver.connect().await;
    // Pages of two agents, so three agents take two pages.
    let page = format!("http://{}/#page_size=2", server.http);
    browser.goto(&page).await.expect("the wallboard loads");

    rows_until(&browser, &["a1", "a2"]).await;
    text_until(&browser, "#agents-scope", |t| t == "all · 1–2").await;
    click(&browser, "#agents-next").await;
    rows_until(&browser, &["a3"]).await;
    text_until(&browser, "#agents-scope", |t| t == "all · 3–3").await;
    // No page after the last.
    disabled_until(&browser, "#agents-next", true).await;
    click(&browser, "#agents-previous").await;
    rows_until(&browser, &["a1", "a2"]).await;

    // Clicking a queue's card shows the agents able to serve it, from their first page, and
    // keeps the choice in the address; clicking it again shows every agent.
    click(&browser, r#".queue[data-queue="billing"]"#).await;
    rows_until(&browser, &["a2", "a3"]).await;
    text_until(&browser, "#agents-scope", |t| {
        t == "able to serve billing · 1–2"
    })
    .await;
    let address = browser.current_url().await.unwrap();
    assert!(
        address
            .fragment()
            .is_some_and(|f| f.contains("queue=billing")),
        "{address}"
    );
    // The table follows the floor while filtered: a new agent who can serve billing is on the
    // next page once the event arrives.
    server.put_agent("a4", &[("billing", 2)]).await;
    disabled_until(&browser, "#agents-next", false).await;
    click(&browser, "#agents-next").await;
    rows_until(&browser, &["a4"]).await;
    click(&browser, r#".queue[data-queue="billing"]"#).await;
    rows_until(&browser, &["a1", "a2"]).await;
    text_until(&browser, "#agents-scope", |t| t == "all · 1–2").await;

    // A picked queue that is deleted: back to every agent.
    click(&browser, r#".queue[data-queue="billing"]"#).await;
    text_until(&browser, "#agents-scope", |t| {
        t.starts_with("able to serve billing")
    })
    .await;
    server
        .queues
        .delete_queue(pb::DeleteQueueRequest {
            name: "billing".into(),
        })
        .await
        .expect("billing deleted");
    text_until(&browser, "#agents-scope", |t| t == "all · 1–2").await;
    rows_until(&browser, &["a1", "a2"]).await;

    server.shut_down().await;
    browser.close().await.expect("the session closes");
}
