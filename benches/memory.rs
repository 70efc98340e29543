//! Memory and allocations of the routing core, counted by a global allocator.
//!
//! - bytes per agent: 100,000 ready agents, each with 3 of 100 skills (index entries included);
//! - bytes per waiting contact: 100,000 waiting voice contacts, each with a customer id, one
//!   required skill and one context entry;
//! - allocations per decision: the engine's own allocations (the caller's command is built
//!   outside the count) in one enqueue → decision → cancel cycle on a 10,000-agent floor, and in
//!   one full cycle (enqueue → accept → complete), with the event buffer reused.
//!
//! "Bytes" are bytes requested from the allocator and still live (allocator overhead not
//! included); the process's resident set (VmRSS) growth is printed beside them. The counter wraps
//! mimalloc, the allocator the `routerd` binary uses.
//! Run: `cargo bench --bench memory`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use routerd::core::{
    AgentSpec, Applied, CancelReason, Channel, Command, Engine, EngineConfig, Event, NewContact,
    Outcome, Presence, QueueConfig, SkillLevel,
};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { routerd::allocator::Allocator.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { routerd::allocator::Allocator.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        unsafe { routerd::allocator::Allocator.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 100_000;

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Resident set size in bytes, from /proc (0 where there is none).
fn rss() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn skill(i: usize) -> String {
    format!("skill-{}", i % 100)
}

fn agent(a: usize) -> AgentSpec {
    AgentSpec::new(&format!("agent-{a}"))
        .with_skills(&[
            (&skill(a * 7), 5),
            (&skill(a * 7 + 1), 7),
            (&skill(a * 7 + 2), 3),
        ])
        .unwrap()
}

fn floor(agents: usize) -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    engine
        .apply(Command::PutQueue(Box::new(QueueConfig::new("q"))), 0)
        .unwrap();
    for a in 0..agents {
        engine.apply(Command::PutAgent(agent(a)), 0).unwrap();
        let ready = Command::SetPresence {
            agent: format!("agent-{a}"),
            presence: Presence::Ready,
        };
        engine.apply(ready, 0).unwrap();
    }
    engine.drain_events(&mut Vec::new());
    engine
}

fn contact(n: usize, level: u32) -> NewContact {
    let mut c = NewContact::new("q", Channel::Voice);
    c.customer_id = format!("cust-{n:08}");
    c.required_skills = vec![SkillLevel::new(&skill(n), level).unwrap()];
    c.context.insert("order".into(), format!("A-{n:08}"));
    c
}

/// Enqueues contact `n` (its command built outside the count); gives the view and how many
/// allocations the engine made for it.
fn enqueue(engine: &mut Engine, n: usize, now: u64) -> (routerd::core::ContactView, u64) {
    let command = Command::Enqueue(contact(n, 1));
    let before = allocations();
    let Ok(Applied::Enqueued { contact, .. }) = engine.apply(command, now) else {
        panic!("enqueue failed")
    };
    (contact, allocations() - before)
}

/// Applies `commands` and drains the events; gives how many allocations the engine made.
fn counted(engine: &mut Engine, commands: Vec<Command>, now: u64, events: &mut Vec<Event>) -> u64 {
    let before = allocations();
    for command in commands {
        engine.apply(command, now).unwrap();
    }
    engine.drain_events(events);
    events.clear();
    allocations() - before
}

fn main() {
    // `cargo test` and `cargo bench --no-run` build this; only `cargo bench` runs it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("memory of the routing core (bytes requested and live; VmRSS growth beside)");

    let (bytes, resident) = (live(), rss());
    let engine = floor(N);
    println!(
        "  per agent ({N} ready, 3 skills each):     {:>6} B   (RSS {:>6} B)",
        (live() - bytes) / N as i64,
        (rss() - resident) / N as i64
    );
    drop(engine);

    let mut engine = Engine::new(EngineConfig::default());
    engine
        .apply(Command::PutQueue(Box::new(QueueConfig::new("q"))), 0)
        .unwrap();
    let contacts: Vec<NewContact> = (0..N).map(|n| contact(n, 5)).collect();
    let (bytes, resident) = (live(), rss());
    let mut events: Vec<Event> = Vec::with_capacity(1024);
    for c in contacts {
        engine.apply(Command::Enqueue(c), 1).unwrap();
        engine.drain_events(&mut events);
        events.clear();
    }
    println!(
        "  per waiting contact ({N}, 1 skill, 1 context entry): {:>6} B   (RSS {:>6} B)",
        (live() - bytes) / N as i64,
        (rss() - resident) / N as i64
    );
    drop(engine);

    let mut engine = floor(10_000);
    let cycles = 10_000u64;
    let mut now = 1_000;
    let (mut total, mut offered) = (0, 0);
    for n in 0..cycles as usize {
        now += 1;
        let (contact, allocs) = enqueue(&mut engine, n, now);
        offered += u64::from(contact.state.agent().is_some());
        let cancel = Command::Cancel {
            contact: contact.id,
            reason: CancelReason::Withdrawn,
        };
        total += allocs + counted(&mut engine, vec![cancel], now, &mut events);
    }
    assert_eq!(offered, cycles, "every contact found an agent");
    println!(
        "  allocations per enqueue → decision → cancel (10k agents): {:.1}",
        total as f64 / cycles as f64
    );

    let mut total = 0;
    for n in 0..cycles as usize {
        now += 1;
        let (contact, allocs) = enqueue(&mut engine, n, now);
        let agent = contact.state.agent().expect("offered").to_string();
        let answer = vec![
            Command::Accept {
                contact: contact.id,
                agent: agent.clone(),
            },
            Command::Complete {
                contact: contact.id,
                agent,
                outcome: Outcome::default(),
            },
        ];
        total += allocs + counted(&mut engine, answer, now, &mut events);
    }
    println!(
        "  allocations per full cycle (enqueue → accept → complete): {:.1}",
        total as f64 / cycles as f64
    );
}
