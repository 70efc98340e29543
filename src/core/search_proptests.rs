//! Property test: exact choice. On random floors — up to 40 agents with random skills, levels
//! (a third at the top level, so many agents tie at the head of an order),
//! capacities, loads on blended channels, outcomes learnt, handled counts and idle times — every
//! agent-side decision of every strategy (each preset and random `weighted` mixes, negative
//! weights, bands, occupancy caps and alternative requirement sets included) chooses what a scan
//! of the whole floor chooses. The comparison
//! runs inside the engine at every exact decision of a test build (`Engine::scan_floor`); this
//! test builds the floors that exercise it and checks that probe decisions were made.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::strategy::{AGENT_STRATEGIES, AgentTerm};
use super::{
    AgentSpec, Channel, Command, ContactId, Engine, EngineConfig, Event, EventBody, NewContact,
    Outcome, Presence, QueueConfig, SkillLevel,
};

const SKILLS: [&str; 4] = ["billing", "tech", "lang:es", "vip"];
const CHANNELS: [Channel; 4] = [Channel::Voice, Channel::Chat, Channel::Email, Channel::Sms];

#[derive(Clone, Debug)]
struct AgentPlan {
    skills: Vec<(usize, u32)>,
    capacity: u32,
    ready: bool,
}

#[derive(Clone, Debug)]
enum Op {
    /// A contact to the load queue (longest idle, no requirements): gives agents work.
    Load(usize),
    /// A contact to the probe queue, with requirements and a customer.
    Probe {
        channel: usize,
        skills: Vec<(usize, u32)>,
        /// Alternative requirement sets (an agent meeting any set is eligible).
        alternatives: Vec<Vec<(usize, u32)>>,
        customer: u8,
    },
    AcceptAll,
    Complete {
        pick: usize,
        resolved: bool,
        satisfaction: u8,
    },
    Reject(usize),
    Toggle(usize),
    Wait(u32),
}

#[derive(Clone, Debug)]
struct ProbeStrategy {
    preset: usize,
    weights: Vec<(usize, f64)>,
    band: Option<f64>,
    /// Occupancy cap in percent (0: none); low, as the runs are minutes long.
    occupancy_cap: f64,
}

fn agent_plan() -> impl Strategy<Value = AgentPlan> {
    (
        // A third of the levels at 10, so ties at the top of an order are common.
        proptest::collection::vec(
            (0..SKILLS.len(), prop_oneof![2 => 1u32..=10, 1 => Just(10)]),
            0..4,
        ),
        prop_oneof![Just(100u32), Just(150), Just(200)],
        proptest::bool::weighted(0.85),
    )
        .prop_map(|(mut skills, capacity, ready)| {
            skills.sort_by_key(|s| s.0);
            skills.dedup_by_key(|s| s.0);
            AgentPlan {
                skills,
                capacity,
                ready,
            }
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..CHANNELS.len()).prop_map(Op::Load),
        4 => (
            0..CHANNELS.len(),
            proptest::collection::vec((0..SKILLS.len(), 1u32..=10), 0..3),
            prop_oneof![
                2 => Just(vec![]),
                1 => proptest::collection::vec(proptest::collection::vec((0..SKILLS.len(), 1u32..=10), 1..3), 1..3),
            ],
            0u8..6,
        )
            .prop_map(|(channel, skills, alternatives, customer)| Op::Probe { channel, skills, alternatives, customer }),
        3 => Just(Op::AcceptAll),
        3 => (any::<usize>(), any::<bool>(), 0u8..=5)
            .prop_map(|(pick, resolved, satisfaction)| Op::Complete { pick, resolved, satisfaction }),
        1 => any::<usize>().prop_map(Op::Reject),
        1 => any::<usize>().prop_map(Op::Toggle),
        3 => (0u32..30_000).prop_map(Op::Wait),
    ]
}

fn probe_strategy() -> impl Strategy<Value = ProbeStrategy> {
    (
        0..AGENT_STRATEGIES.len(),
        proptest::collection::vec((0..AgentTerm::COUNT, -2.0f64..2.0), 0..4),
        prop_oneof![
            Just(None),
            Just(Some(0.0)),
            Just(Some(0.02)),
            Just(Some(0.3)),
            Just(Some(5.0))
        ],
        prop_oneof![Just(0.0), Just(1.0), Just(5.0), Just(20.0)],
    )
        .prop_map(|(preset, weights, band, occupancy_cap)| ProbeStrategy {
            preset,
            weights,
            band,
            occupancy_cap,
        })
}

struct Floor {
    engine: Engine,
    now: u64,
    agents: Vec<String>,
    offered: Vec<(ContactId, String)>,
    assigned: Vec<(ContactId, String)>,
    probe_decisions: usize,
    events: Vec<Event>,
}

impl Floor {
    fn apply(&mut self, command: Command) {
        let _ = self.engine.apply(command, self.now);
        self.engine.drain_events(&mut self.events);
        for event in self.events.drain(..) {
            match event.body {
                EventBody::Decision(d) => {
                    if &*d.queue == "probe" {
                        self.probe_decisions += 1;
                    }
                    self.offered.push((d.contact, d.agent.to_string()));
                }
                EventBody::ContactEnded { contact, .. } => {
                    self.assigned.retain(|(c, _)| *c != contact.id);
                    self.offered.retain(|(c, _)| *c != contact.id);
                }
                _ => {}
            }
        }
    }
}

fn skills(list: &[(usize, u32)]) -> Vec<SkillLevel> {
    list.iter()
        .map(|(s, l)| SkillLevel::new(SKILLS[*s], *l).unwrap())
        .collect()
}

fn run(plans: Vec<AgentPlan>, probe: ProbeStrategy, ops: Vec<Op>) -> usize {
    let mut floor = Floor {
        engine: Engine::new(EngineConfig::default()),
        now: 1_000,
        agents: Vec::new(),
        offered: Vec::new(),
        assigned: Vec::new(),
        probe_decisions: 0,
        events: Vec::new(),
    };
    let mut load = QueueConfig::new("load");
    load.offer_timeout_secs = 3600;
    floor.apply(Command::PutQueue(Box::new(load)));
    let mut q = QueueConfig::new("probe");
    q.offer_timeout_secs = 3600;
    q.strategy = AGENT_STRATEGIES[probe.preset].into();
    q.agent_weights = probe
        .weights
        .iter()
        .map(|&(t, w)| (AgentTerm::ALL[t].name().to_string(), w))
        .collect();
    q.band = probe.band;
    q.occupancy_cap_percent = probe.occupancy_cap;
    floor.apply(Command::PutQueue(Box::new(q)));
    for (i, plan) in plans.iter().enumerate() {
        let id = format!("agent-{i:02}");
        let mut spec = AgentSpec::new(&id);
        spec.skills = skills(&plan.skills);
        spec.capacity = Some(plan.capacity);
        floor.apply(Command::PutAgent(spec));
        if plan.ready {
            floor.apply(Command::SetPresence {
                agent: id.clone(),
                presence: Presence::Ready,
            });
        }
        floor.agents.push(id);
        floor.now += 700 * (i as u64 % 3);
    }
    let mut ready: Vec<bool> = plans.iter().map(|p| p.ready).collect();
    for op in ops {
        match op {
            Op::Load(channel) => {
                let contact = NewContact::new("load", CHANNELS[channel]);
                floor.apply(Command::Enqueue(contact));
            }
            Op::Probe {
                channel,
                skills: required,
                alternatives,
                customer,
            } => {
                let mut contact = NewContact::new("probe", CHANNELS[channel]);
                contact.alternatives = alternatives
                    .iter()
                    .map(|set| {
                        let mut set = skills(set);
                        set.sort_by(|a, b| a.skill.cmp(&b.skill));
                        set.dedup_by(|a, b| a.skill == b.skill);
                        set
                    })
                    .collect();
                contact.required_skills = skills(&required);
                contact
                    .required_skills
                    .sort_by(|a, b| a.skill.cmp(&b.skill));
                contact.required_skills.dedup_by(|a, b| a.skill == b.skill);
                contact.customer_id = format!("customer-{customer}");
                floor.apply(Command::Enqueue(contact));
            }
            Op::AcceptAll => {
                for (contact, agent) in std::mem::take(&mut floor.offered) {
                    floor.apply(Command::Accept {
                        contact,
                        agent: agent.clone(),
                    });
                    floor.assigned.push((contact, agent));
                }
            }
            Op::Complete {
                pick,
                resolved,
                satisfaction,
            } => {
                if !floor.assigned.is_empty() {
                    let (contact, agent) = floor.assigned.remove(pick % floor.assigned.len());
                    let outcome = Outcome {
                        handle_secs: 0,
                        resolved,
                        satisfaction,
                    };
                    floor.apply(Command::Complete {
                        contact,
                        agent,
                        outcome,
                    });
                }
            }
            Op::Reject(pick) => {
                if !floor.offered.is_empty() {
                    let (contact, agent) = floor.offered.remove(pick % floor.offered.len());
                    floor.apply(Command::Reject { contact, agent });
                }
            }
            Op::Toggle(pick) => {
                if !floor.agents.is_empty() {
                    let i = pick % floor.agents.len();
                    ready[i] = !ready[i];
                    let presence = if ready[i] {
                        Presence::Ready
                    } else {
                        Presence::NotReady("break".into())
                    };
                    let agent = floor.agents[i].clone();
                    floor.offered.retain(|(_, a)| *a != agent);
                    floor.apply(Command::SetPresence { agent, presence });
                }
            }
            Op::Wait(ms) => floor.now += u64::from(ms),
        }
        floor.engine.check_invariants().expect("invariants hold");
    }
    floor.probe_decisions
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_decision_chooses_what_a_scan_of_the_floor_chooses(
        plans in proptest::collection::vec(agent_plan(), 1..40),
        probe in probe_strategy(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(plans, probe, ops);
    }
}

/// The test above reaches real decisions: a fixed busy floor makes dozens of probe decisions
/// (each compared with a scan inside the engine).
#[test]
fn the_exact_choice_property_makes_real_decisions() {
    let plans: Vec<AgentPlan> = (0..30)
        .map(|i| AgentPlan {
            skills: vec![(i % 4, 1 + (i as u32 * 7) % 10), ((i + 1) % 4, 5)],
            capacity: 100,
            ready: i % 5 != 0,
        })
        .collect();
    let mut ops = Vec::new();
    for i in 0..60 {
        ops.push(Op::Load(1 + i % 3));
        ops.push(Op::Probe {
            channel: i % 4,
            skills: vec![(i % 4, 1 + (i as u32 % 6))],
            alternatives: if i % 3 == 0 {
                vec![vec![((i + 1) % 4, 1 + (i as u32 % 9))]]
            } else {
                vec![]
            },
            customer: (i % 6) as u8,
        });
        ops.push(Op::AcceptAll);
        ops.push(Op::Complete {
            pick: i * 7,
            resolved: i % 3 == 0,
            satisfaction: (i % 6) as u8,
        });
        ops.push(Op::Wait(2_500));
    }
    let probe = ProbeStrategy {
        preset: AGENT_STRATEGIES.len() - 1,
        weights: vec![
            (AgentTerm::Performance as usize, 1.0),
            (AgentTerm::Idle as usize, 0.001),
        ],
        band: Some(0.02),
        occupancy_cap: 5.0,
    };
    assert!(run(plans, probe, ops) >= 30);
}
