//! Unit tests of the routing rules, on virtual time.

use std::collections::BTreeMap;

use super::*;

/// A floor on virtual time: an engine, a clock in milliseconds and every event so far.
pub(crate) struct Floor {
    pub engine: Engine,
    pub now: Millis,
    pub events: Vec<Event>,
}

impl Floor {
    pub fn new() -> Floor {
        Floor {
            engine: Engine::new(EngineConfig::default()),
            now: 1_000_000,
            events: Vec::new(),
        }
    }

    pub fn apply(&mut self, command: Command) -> Result<Applied, CoreError> {
        let result = self.engine.apply(command, self.now);
        self.engine.drain_events(&mut self.events);
        self.engine.check_invariants().expect("invariants hold");
        result
    }

    /// Moves time forward by `secs`, firing due deadlines.
    pub fn wait(&mut self, secs: f64) {
        self.now += (secs * 1000.0) as u64;
        self.engine.advance(self.now);
        self.engine.drain_events(&mut self.events);
        self.engine.check_invariants().expect("invariants hold");
    }

    pub fn queue(&mut self, name: &str, edit: impl FnOnce(&mut QueueConfig)) {
        let mut q = QueueConfig::new(name);
        edit(&mut q);
        self.apply(Command::PutQueue(Box::new(q))).expect("queue");
    }

    /// Creates an agent and makes it ready.
    pub fn agent(&mut self, id: &str, skills: &[(&str, u32)]) {
        let spec = AgentSpec::new(id).with_skills(skills).expect("skills");
        self.apply(Command::PutAgent(spec)).expect("agent");
        self.presence(id, Presence::Ready);
    }

    pub fn presence(&mut self, id: &str, presence: Presence) {
        self.apply(Command::SetPresence {
            agent: id.into(),
            presence,
        })
        .expect("presence");
    }

    pub fn enqueue_with(
        &mut self,
        queue: &str,
        channel: Channel,
        edit: impl FnOnce(&mut NewContact),
    ) -> Result<ContactId, CoreError> {
        let mut c = NewContact::new(queue, channel);
        edit(&mut c);
        match self.apply(Command::Enqueue(c))? {
            Applied::Enqueued { contact, .. } => Ok(contact.id),
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn enqueue(&mut self, queue: &str, channel: Channel) -> ContactId {
        self.enqueue_with(queue, channel, |_| {}).expect("enqueue")
    }

    pub fn holder(&self, id: ContactId) -> Option<String> {
        match self.engine.contact_view(id)?.state {
            ContactState::Offered { agent, .. } | ContactState::Assigned { agent } => {
                Some(agent.to_string())
            }
            _ => None,
        }
    }

    pub fn state(&self, id: ContactId) -> ContactState {
        self.engine.contact_view(id).expect("contact").state
    }

    pub fn accept(&mut self, id: ContactId) {
        let agent = self.holder(id).expect("offered");
        self.apply(Command::Accept { contact: id, agent })
            .expect("accept");
    }

    pub fn reject(&mut self, id: ContactId) {
        let agent = self.holder(id).expect("offered");
        self.apply(Command::Reject { contact: id, agent })
            .expect("reject");
    }

    pub fn complete(&mut self, id: ContactId) {
        let agent = self.holder(id).expect("assigned");
        self.apply(Command::Complete {
            contact: id,
            agent,
            outcome: Outcome::default(),
        })
        .expect("complete");
    }

    pub fn decisions(&self) -> Vec<&Decision> {
        self.events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Decision(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    pub fn presence_of(&self, id: &str) -> PresenceView {
        self.engine.agent_view(id).expect("agent").presence
    }
}

#[test]
fn a_contact_goes_to_the_longest_idle_agent() {
    let mut f = Floor::new();
    f.queue("sales", |_| {});
    f.agent("a", &[]);
    f.wait(5.0);
    f.agent("b", &[]);
    f.wait(5.0);
    let c = f.enqueue("sales", Channel::Voice);
    assert_eq!(f.holder(c).as_deref(), Some("a"));
    let d = f.decisions()[0];
    assert_eq!(d.trigger, Trigger::ContactArrived);
    assert_eq!(&*d.strategy.label, "longest-idle/priority-fifo");
    assert_eq!(d.candidates.len(), 2);
    assert_eq!(&*d.candidates[0].agent, "a");
    assert_eq!(d.candidates[0].idle_ms, 10_000);
    assert_eq!(&*d.candidates[1].agent, "b");
    assert!(d.candidates[0].score > d.candidates[1].score);
}

#[test]
fn equal_idle_time_breaks_on_agent_id() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.apply(Command::PutAgent(AgentSpec::new("z"))).unwrap();
    f.apply(Command::PutAgent(AgentSpec::new("y"))).unwrap();
    f.presence("z", Presence::Ready);
    f.presence("y", Presence::Ready);
    // Same millisecond: "y" before "z", whatever the order of creation or readiness.
    let c = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(c).as_deref(), Some("y"));
}

#[test]
fn chat_capacity_allows_three_and_voice_needs_an_idle_agent() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let chats: Vec<_> = (0..4).map(|_| f.enqueue("q", Channel::Chat)).collect();
    for c in &chats[..3] {
        assert_eq!(f.holder(*c).as_deref(), Some("a"));
    }
    assert_eq!(f.state(chats[3]), ContactState::Waiting);
    assert_eq!(f.engine.agent_view("a").unwrap().load, 3 * 33);
    let call = f.enqueue("q", Channel::Voice);
    assert_eq!(f.state(call), ContactState::Waiting);
    // A second agent takes the oldest contact it fits: the waiting chat, not the newer call.
    f.agent("b", &[]);
    assert_eq!(f.holder(chats[3]).as_deref(), Some("b"));
    assert_eq!(f.state(call), ContactState::Waiting, "b holds a chat now");
}

#[test]
fn two_emails_fit_but_not_three() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let e: Vec<_> = (0..3).map(|_| f.enqueue("q", Channel::Email)).collect();
    assert!(f.holder(e[0]).is_some() && f.holder(e[1]).is_some());
    assert_eq!(f.state(e[2]), ContactState::Waiting);
}

#[test]
fn channel_limit_zero_keeps_a_channel_away() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let mut spec = AgentSpec::new("a");
    spec.channel_limits = vec![(Channel::Voice, 0), (Channel::Chat, 1)];
    f.apply(Command::PutAgent(spec)).unwrap();
    f.presence("a", Presence::Ready);
    let call = f.enqueue("q", Channel::Voice);
    let chat1 = f.enqueue("q", Channel::Chat);
    let chat2 = f.enqueue("q", Channel::Chat);
    assert_eq!(f.state(call), ContactState::Waiting);
    assert_eq!(f.holder(chat1).as_deref(), Some("a"));
    assert_eq!(f.state(chat2), ContactState::Waiting);
}

#[test]
fn requirements_are_honoured_at_their_level() {
    let mut f = Floor::new();
    f.queue("billing", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 5).unwrap()]
    });
    f.agent("junior", &[("billing", 4)]);
    f.agent("spanish", &[("billing", 9), ("lang:es", 6)]);
    f.agent("senior", &[("billing", 8)]);
    // Needs billing >= 5 (queue) and lang:es >= 6 (contact).
    let c = f
        .enqueue_with("billing", Channel::Voice, |c| {
            c.required_skills = vec![SkillLevel::new("lang:es", 6).unwrap()]
        })
        .unwrap();
    assert_eq!(f.holder(c).as_deref(), Some("spanish"));
    // Contact raises the queue's level: billing >= 9 — nobody free has it.
    let c2 = f
        .enqueue_with("billing", Channel::Voice, |c| {
            c.required_skills = vec![SkillLevel::new("billing", 9).unwrap()]
        })
        .unwrap();
    assert_eq!(f.state(c2), ContactState::Waiting);
    let c3 = f.enqueue("billing", Channel::Voice);
    assert_eq!(
        f.holder(c3).as_deref(),
        Some("senior"),
        "junior is below level 5"
    );
}

#[test]
fn a_freed_agent_takes_the_highest_priority_then_oldest_contact_across_queues() {
    let mut f = Floor::new();
    f.queue("a", |_| {});
    f.queue("b", |_| {});
    let old_low = f.enqueue("a", Channel::Voice);
    f.wait(1.0);
    let high_b = f
        .enqueue_with("b", Channel::Voice, |c| c.priority = 5)
        .unwrap();
    f.wait(1.0);
    let high_a = f
        .enqueue_with("a", Channel::Voice, |c| c.priority = 5)
        .unwrap();
    f.agent("x", &[]);
    assert_eq!(f.holder(high_b).as_deref(), Some("x"));
    let d = f.decisions()[0];
    assert_eq!(d.trigger, Trigger::AgentReady);
    assert_eq!(d.considered, 2, "one head per group");
    f.accept(high_b);
    f.complete(high_b);
    assert_eq!(f.holder(high_a).as_deref(), Some("x"));
    assert_eq!(f.decisions()[1].trigger, Trigger::CapacityFreed);
    f.accept(high_a);
    f.complete(high_a);
    assert_eq!(f.holder(old_low).as_deref(), Some("x"));
}

#[test]
fn a_rejected_contact_keeps_its_place_and_is_never_reoffered_to_that_agent() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let first = f.enqueue("q", Channel::Voice);
    let second = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(first).as_deref(), Some("a"));
    f.reject(first);
    // a takes the second contact instead; the first waits, still ahead of any newer one.
    assert_eq!(f.holder(second).as_deref(), Some("a"));
    assert_eq!(f.state(first), ContactState::Waiting);
    f.reject(second);
    assert_eq!(f.state(second), ContactState::Waiting);
    assert!(f.engine.agent_view("a").unwrap().offered.is_empty());
    let third = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(third).as_deref(), Some("a"));
    f.agent("b", &[]);
    assert_eq!(
        f.holder(first).as_deref(),
        Some("b"),
        "original place: first before second"
    );
    assert!(
        f.events.iter().any(
            |e| matches!(e.body, EventBody::OfferRejected { contact, .. } if contact == first)
        )
    );
}

#[test]
fn offer_timeout_returns_the_contact_and_two_in_a_row_set_not_ready() {
    let mut f = Floor::new();
    f.queue("q", |q| q.offer_timeout_secs = 10);
    f.agent("a", &[]);
    f.agent("b", &[]);
    let c1 = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(c1).as_deref(), Some("a"));
    let offer_deadline = f.now + 10_000;
    let c2 = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(c2).as_deref(), Some("b"));
    assert_eq!(f.engine.next_deadline(), Some(offer_deadline));
    f.wait(9.999);
    assert_eq!(f.holder(c1).as_deref(), Some("a"));
    f.wait(0.001);
    // Both time out: each goes to the other agent (never back to the one that missed it).
    assert_eq!(f.holder(c1).as_deref(), Some("b"));
    assert_eq!(f.holder(c2).as_deref(), Some("a"));
    assert_eq!(f.engine.agent_view("a").unwrap().missed_in_row, 1);
    f.wait(10.0);
    // Second miss in a row: both agents go not ready with the reason, the contacts wait.
    assert_eq!(
        f.presence_of("a"),
        PresenceView::NotReady("missed-offer".into())
    );
    assert_eq!(f.state(c1), ContactState::Waiting);
    assert_eq!(f.state(c2), ContactState::Waiting);
    let timed_out = f
        .events
        .iter()
        .filter(|e| matches!(e.body, EventBody::OfferTimedOut { .. }))
        .count();
    assert_eq!(timed_out, 4);
}

#[test]
fn accepting_resets_the_missed_offer_count() {
    let mut f = Floor::new();
    f.queue("q", |q| q.offer_timeout_secs = 5);
    f.agent("a", &[]);
    let c1 = f.enqueue("q", Channel::Voice);
    f.wait(5.0);
    assert_eq!(f.engine.agent_view("a").unwrap().missed_in_row, 1);
    // c1 was excluded for a; a new contact comes.
    let c2 = f.enqueue("q", Channel::Voice);
    f.accept(c2);
    assert_eq!(f.engine.agent_view("a").unwrap().missed_in_row, 0);
    assert_eq!(f.state(c1), ContactState::Waiting);
}

#[test]
fn wrap_up_holds_new_work_for_the_queue_wrap_up_time() {
    let mut f = Floor::new();
    f.queue("q", |q| q.wrap_up_secs = 30);
    f.agent("a", &[]);
    let c1 = f.enqueue("q", Channel::Voice);
    f.accept(c1);
    f.wait(60.0);
    f.complete(c1);
    assert_eq!(f.presence_of("a"), PresenceView::WrapUp);
    let c2 = f.enqueue("q", Channel::Chat);
    assert_eq!(f.state(c2), ContactState::Waiting);
    f.wait(29.9);
    assert_eq!(f.state(c2), ContactState::Waiting);
    f.wait(0.1);
    assert_eq!(f.holder(c2).as_deref(), Some("a"));
    assert_eq!(f.decisions().last().unwrap().trigger, Trigger::WrapUpEnded);
    assert_eq!(f.decisions().last().unwrap().waited_ms, 30_000);
}

#[test]
fn going_offline_or_not_ready_returns_offers_but_keeps_accepted_contacts() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let chat1 = f.enqueue("q", Channel::Chat);
    let chat2 = f.enqueue("q", Channel::Chat);
    f.accept(chat1);
    f.presence("a", Presence::Offline);
    assert_eq!(f.state(chat2), ContactState::Waiting);
    assert_eq!(f.holder(chat1).as_deref(), Some("a"));
    assert!(f.events.iter().any(|e| matches!(
        e.body,
        EventBody::OfferReturned { contact, reason: ReturnReason::AgentOffline, .. } if contact == chat2
    )));
    // Returned (not rejected): the agent may be offered it again once back.
    f.presence("a", Presence::Ready);
    assert_eq!(f.holder(chat2).as_deref(), Some("a"));
    f.presence("a", Presence::NotReady("break".into()));
    assert_eq!(f.state(chat2), ContactState::Waiting);
}

#[test]
fn a_contact_past_its_maximum_wait_expires() {
    let mut f = Floor::new();
    f.queue("q", |q| {
        q.max_wait_secs = 60;
        q.offer_timeout_secs = 30;
    });
    let c = f.enqueue("q", Channel::Voice);
    f.wait(59.0);
    f.agent("a", &[]);
    assert_eq!(f.holder(c).as_deref(), Some("a"));
    // The maximum wait passes during the offer; when the offer is rejected the contact expires.
    f.wait(2.0);
    f.reject(c);
    assert_eq!(f.state(c), ContactState::Expired);
    let c2 = f.enqueue("q", Channel::Voice);
    assert_eq!(f.holder(c2).as_deref(), Some("a"));
    f.accept(c2);
    let c3 = f.enqueue("q", Channel::Voice);
    f.wait(60.0);
    assert_eq!(f.state(c3), ContactState::Expired);
    let snap = &f.engine.queue_snapshots()[0];
    assert_eq!(snap.counters.expired, 2);
}

#[test]
fn a_full_queue_refuses_at_the_door_and_changes_nothing() {
    let mut f = Floor::new();
    f.queue("q", |q| q.max_length = 2);
    f.enqueue("q", Channel::Voice);
    f.enqueue("q", Channel::Voice);
    let events = f.events.len();
    let err = f.enqueue_with("q", Channel::Voice, |_| {}).unwrap_err();
    assert!(matches!(err, CoreError::QueueFull { ref queue, max_length: 2 } if queue == "q"));
    assert!(err.to_string().contains("max_length"), "{err}");
    assert_eq!(f.events.len(), events);
    assert_eq!(f.engine.waiting_count(), 2);
    assert_eq!(f.engine.queue_snapshots()[0].counters.refused, 1);
}

#[test]
fn bad_input_is_refused_with_the_right_error_and_changes_nothing() {
    let mut f = Floor::new();
    f.queue("q", |q| q.channels = vec![Channel::Voice]);
    f.agent("a", &[("billing", 5)]);
    let events = f.events.len();
    let e = f.enqueue_with("nope", Channel::Voice, |_| {}).unwrap_err();
    assert!(matches!(e, CoreError::UnknownQueue { ref queue } if queue == "nope"));
    let e = f.enqueue_with("q", Channel::Chat, |_| {}).unwrap_err();
    assert!(matches!(e, CoreError::Invalid(_)));
    let e = f
        .enqueue_with("q", Channel::Voice, |c| {
            c.context = (0..100).map(|i| (format!("k{i}"), "v".into())).collect()
        })
        .unwrap_err();
    assert!(matches!(e, CoreError::Invalid(_)));
    let e = f
        .enqueue_with("q", Channel::Voice, |c| c.customer_value = f64::NAN)
        .unwrap_err();
    assert!(matches!(e, CoreError::Invalid(_)));
    let e = f.apply(Command::PutAgent(AgentSpec::new(""))).unwrap_err();
    assert!(matches!(e, CoreError::Invalid(_)));
    let mut q = QueueConfig::new("x");
    q.strategy = "psychic".into();
    let e = f.apply(Command::PutQueue(Box::new(q))).unwrap_err();
    assert!(matches!(e, CoreError::Invalid(ref m) if m.contains("psychic")));
    let e = f
        .apply(Command::Accept {
            contact: 99,
            agent: "a".into(),
        })
        .unwrap_err();
    assert_eq!(e, CoreError::UnknownContact { contact: 99 });
    let e = f
        .apply(Command::SetPresence {
            agent: "ghost".into(),
            presence: Presence::Ready,
        })
        .unwrap_err();
    assert!(matches!(e, CoreError::UnknownAgent { ref agent } if agent == "ghost"));
    assert_eq!(f.events.len(), events);
    assert_eq!(f.engine.waiting_count(), 0);
    assert!(f.engine.queue_config("x").is_none());
}

#[test]
fn offers_answer_only_to_their_agent() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    f.agent("b", &[]);
    let c = f.enqueue("q", Channel::Voice);
    let e = f
        .apply(Command::Accept {
            contact: c,
            agent: "b".into(),
        })
        .unwrap_err();
    assert!(matches!(e, CoreError::OfferedToAnother { .. }), "{e}");
    let e = f
        .apply(Command::Complete {
            contact: c,
            agent: "a".into(),
            outcome: Outcome::default(),
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            CoreError::NotAssigned {
                state: "offered",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("accept it first"), "{e}");
}

#[test]
fn cancel_counts_abandons_and_frees_an_offered_agent() {
    let mut f = Floor::new();
    f.queue("q", |q| q.sl_threshold_secs = 20);
    let c1 = f.enqueue("q", Channel::Voice);
    f.wait(5.0);
    f.apply(Command::Cancel {
        contact: c1,
        reason: CancelReason::Abandoned,
    })
    .unwrap();
    assert_eq!(f.state(c1), ContactState::Abandoned);
    f.agent("a", &[]);
    let c2 = f.enqueue("q", Channel::Voice);
    let c3 = f.enqueue("q", Channel::Voice);
    f.apply(Command::Cancel {
        contact: c2,
        reason: CancelReason::Withdrawn,
    })
    .unwrap();
    assert_eq!(f.state(c2), ContactState::Cancelled);
    assert_eq!(
        f.holder(c3).as_deref(),
        Some("a"),
        "freed agent takes the next"
    );
    f.accept(c3);
    let e = f
        .apply(Command::Cancel {
            contact: c3,
            reason: CancelReason::Abandoned,
        })
        .unwrap_err();
    assert_eq!(e, CoreError::AlreadyAccepted { contact: c3 });
    let e = f
        .apply(Command::Cancel {
            contact: c1,
            reason: CancelReason::Abandoned,
        })
        .unwrap_err();
    assert_eq!(e, CoreError::ContactEnded { contact: c1 });
    let s = &f.engine.queue_snapshots()[0];
    assert_eq!((s.counters.abandoned, s.counters.withdrawn), (1, 1));
    assert_eq!(s.counters.abandoned_short, 1, "5 s: short");
}

#[test]
fn statistics_and_position_follow_the_queue() {
    let mut f = Floor::new();
    f.queue("q", |q| {
        q.sl_threshold_secs = 20;
        q.offer_timeout_secs = 60;
    });
    f.agent("a", &[]);
    let c1 = f.enqueue("q", Channel::Voice);
    let r = f.apply(Command::Enqueue(NewContact::new("q", Channel::Voice)));
    let Ok(Applied::Enqueued { position, .. }) = r else {
        panic!()
    };
    assert_eq!(position, 1);
    let mut urgent = NewContact::new("q", Channel::Voice);
    urgent.priority = 9;
    let Ok(Applied::Enqueued { position, .. }) = f.apply(Command::Enqueue(urgent)) else {
        panic!()
    };
    assert_eq!(position, 1, "higher priority goes first");
    let waiting: Vec<_> = (2..=3)
        .map(|id| f.engine.queue_position(id).unwrap().0)
        .collect();
    assert_eq!(waiting, vec![2, 1], "the urgent one is now first");
    assert_eq!(f.engine.queue_position(c1), None, "offered, not waiting");
    f.wait(30.0);
    f.accept(c1);
    let s = &f.engine.queue_snapshots()[0];
    assert_eq!(s.waiting, 2);
    assert_eq!(s.longest_wait_ms(f.engine.now()), 30_000);
    assert_eq!(s.agents_busy, 1);
    assert_eq!(s.counters.answered, 1);
    assert_eq!(
        s.service_level.sl_answered, 0.0,
        "accepted after 30 s > 20 s"
    );
    assert_eq!(s.service_level.asa_ms, 30_000);
}

#[test]
fn same_commands_give_the_same_events() {
    let run = || {
        let mut f = Floor::new();
        f.queue("q", |q| q.offer_timeout_secs = 3);
        for i in 0..5 {
            f.agent(&format!("a{i}"), &[("s", 1 + i)]);
        }
        for i in 0..20u32 {
            let _ = f.enqueue_with("q", Channel::ALL[i as usize % 7], |c| {
                c.priority = i % 3;
                c.required_skills = vec![SkillLevel::new("s", 1 + i % 5).unwrap()];
                c.context = BTreeMap::from([("order".to_string(), i.to_string())]);
            });
            f.wait(0.7);
        }
        f.events
    };
    assert_eq!(run(), run());
}

#[test]
fn removing_an_agent_returns_its_offers_and_refuses_while_it_holds_accepted_work() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let c1 = f.enqueue("q", Channel::Chat);
    let c2 = f.enqueue("q", Channel::Chat);
    f.accept(c1);
    let e = f
        .apply(Command::RemoveAgent { id: "a".into() })
        .unwrap_err();
    assert!(
        matches!(e, CoreError::AgentHoldsContacts { held: 1, .. }),
        "{e}"
    );
    f.complete(c1);
    f.apply(Command::RemoveAgent { id: "a".into() }).unwrap();
    assert_eq!(f.state(c2), ContactState::Waiting);
    assert!(f.engine.agent_view("a").is_none());
}

#[test]
fn lowering_capacity_below_load_is_refused() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    f.agent("a", &[]);
    let c = f.enqueue("q", Channel::Chat);
    f.enqueue("q", Channel::Chat);
    f.accept(c);
    let mut spec = AgentSpec::new("a");
    spec.capacity = Some(50);
    let e = f.apply(Command::PutAgent(spec.clone())).unwrap_err();
    assert!(
        matches!(e, CoreError::CapacityBelowLoad { capacity: 50, .. }),
        "{e}"
    );
    spec.capacity = Some(200);
    f.apply(Command::PutAgent(spec)).unwrap();
    // Room for six chats now: four more are offered at once, the fifth waits.
    let more: Vec<_> = (0..5).map(|_| f.enqueue("q", Channel::Chat)).collect();
    assert_eq!(f.engine.agent_view("a").unwrap().load, 6 * 33);
    assert_eq!(f.state(more[4]), ContactState::Waiting);
}

#[test]
fn deleting_a_queue_with_live_contacts_is_refused() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let c = f.enqueue("q", Channel::Voice);
    let e = f
        .apply(Command::DeleteQueue { name: "q".into() })
        .unwrap_err();
    assert!(matches!(e, CoreError::QueueInUse { live: 1, .. }), "{e}");
    f.apply(Command::Cancel {
        contact: c,
        reason: CancelReason::Withdrawn,
    })
    .unwrap();
    f.apply(Command::DeleteQueue { name: "q".into() }).unwrap();
    assert!(f.engine.queue_configs().is_empty());
}

#[test]
fn snapshot_counts_agents_per_queue_by_presence() {
    let mut f = Floor::new();
    f.queue("billing", |q| {
        q.required_skills = vec![SkillLevel::new("billing", 5).unwrap()];
        q.wrap_up_secs = 60;
    });
    f.queue("any", |_| {});
    f.agent("busy", &[("billing", 6)]);
    let c = f.enqueue("billing", Channel::Voice);
    f.agent("ready", &[("billing", 9)]);
    f.agent("junior", &[("billing", 2)]);
    f.agent("break", &[("billing", 6)]);
    f.presence("break", Presence::NotReady("break".into()));
    f.apply(Command::PutAgent(AgentSpec::new("offline")))
        .unwrap();
    f.agent("wrapping", &[("billing", 6)]);
    f.presence("ready", Presence::NotReady("x".into()));
    let c2 = f.enqueue("billing", Channel::Voice);
    assert_eq!(f.holder(c2).as_deref(), Some("wrapping"));
    f.accept(c2);
    f.complete(c2);
    f.presence("ready", Presence::Ready);
    assert_eq!(f.holder(c).as_deref(), Some("busy"));
    let snaps = f.engine.queue_snapshots();
    let by_name = |n: &str| snaps.iter().find(|s| &*s.config.name == n).unwrap();
    let b = by_name("billing");
    assert_eq!(
        (
            b.agents_ready,
            b.agents_busy,
            b.agents_not_ready,
            b.agents_wrap_up
        ),
        (1, 1, 1, 1),
        "junior lacks the level; offline is not counted"
    );
    let a = by_name("any");
    assert_eq!(
        (
            a.agents_ready,
            a.agents_busy,
            a.agents_not_ready,
            a.agents_wrap_up
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(f.engine.presence_counts(), (5, 2));
}

#[test]
fn new_skill_names_past_the_limit_are_refused_and_change_nothing() {
    let mut f = Floor::new();
    f.engine = Engine::new(EngineConfig {
        max_skill_names: 2,
        ..EngineConfig::default()
    });
    f.queue("q", |_| {});
    f.agent("ana", &[("sales", 3), ("lang:es", 5)]);
    let exhausted = |r: Result<Applied, CoreError>| {
        let e = r.expect_err("refused");
        assert_eq!(e, CoreError::SkillNameLimit { limit: 2 });
        assert!(e.to_string().contains("skill-name limit (2)"), "{e}");
    };
    let before = f.events.len();
    let bo = AgentSpec::new("bo")
        .with_skills(&[("sales", 1), ("billing", 1)])
        .unwrap();
    exhausted(f.apply(Command::PutAgent(bo)));
    let mut queue = QueueConfig::new("billing");
    queue.required_skills = vec![SkillLevel::new("billing", 1).unwrap()];
    exhausted(f.apply(Command::PutQueue(Box::new(queue))));
    let result = f.enqueue_with("q", Channel::Voice, |c| {
        c.required_skills = vec![SkillLevel::new("billing", 1).unwrap()];
    });
    assert!(result.is_err());
    assert_eq!(f.events.len(), before, "nothing happened");
    assert!(f.engine.agent_view("bo").is_none());
    // Names already known stay usable.
    let c = f
        .enqueue_with("q", Channel::Voice, |c| {
            c.required_skills = vec![SkillLevel::new("lang:es", 4).unwrap()];
        })
        .unwrap();
    assert_eq!(f.holder(c).as_deref(), Some("ana"));
}

fn skill(s: &str) -> SkillLevel {
    s.parse().unwrap()
}

#[test]
fn a_contact_with_an_alternative_goes_to_the_second_pool_when_nobody_meets_the_first() {
    let mut f = Floor::new();
    f.queue("billing", |q| q.required_skills = vec![skill("billing:5")]);
    f.agent("novice", &[("billing", 2)]);
    f.agent("overflow", &[("overflow", 1)]);
    let id = f
        .enqueue_with("billing", Channel::Voice, |c| {
            c.alternatives = vec![vec![skill("overflow:1")]]
        })
        .unwrap();
    assert_eq!(f.holder(id).as_deref(), Some("overflow"));
    let d = f.decisions().last().copied().unwrap().clone();
    assert_eq!(d.alternative, 1);
    let view = f.engine.contact_view(id).unwrap();
    assert_eq!(&view.alternatives[..], &[vec![skill("overflow:1")]]);
    // Without the alternative it waits: nobody meets billing:5.
    let waits = f.enqueue("billing", Channel::Voice);
    assert_eq!(f.state(waits), ContactState::Waiting);
}

#[test]
fn exact_choice_scores_each_agent_under_the_best_set_it_meets() {
    let run = |strategy: &str| {
        let mut f = Floor::new();
        f.queue("billing", |q| {
            q.required_skills = vec![skill("billing:3")];
            q.alternatives = vec![vec![skill("overflow:1")]];
            q.strategy = strategy.into();
        });
        f.agent("b", &[("billing", 4)]);
        f.wait(1.0);
        f.agent("o", &[("overflow", 9)]);
        f.wait(1.0);
        let id = f.enqueue("billing", Channel::Voice);
        let d = f.decisions().last().copied().unwrap().clone();
        (f.holder(id).unwrap(), d.alternative)
    };
    // Longest idle: b, under the requirements.
    assert_eq!(run("longest-idle"), ("b".to_string(), 0));
    // Most skilled: o's overflow level 9 beats b's billing 4, under the alternative.
    assert_eq!(run("most-skilled"), ("o".to_string(), 1));
}

#[test]
fn a_widen_step_opens_a_second_pool_at_its_time() {
    let mut f = Floor::new();
    f.queue("billing", |q| {
        q.required_skills = vec![skill("billing:5")];
        q.relaxation = vec![queue::RelaxStep {
            after_secs: 30,
            action: queue::Relax::Widen {
                skills: vec![skill("overflow:1")],
            },
        }];
    });
    f.agent("overflow", &[("overflow", 3)]);
    let id = f.enqueue("billing", Channel::Voice);
    f.wait(29.0);
    assert_eq!(f.state(id), ContactState::Waiting);
    f.wait(2.0);
    assert_eq!(f.holder(id).as_deref(), Some("overflow"));
    let d = f.decisions().last().copied().unwrap().clone();
    assert_eq!(
        (d.trigger, d.alternative, d.relaxation_step),
        (Trigger::RequirementsRelaxed, 1, 1)
    );
}

#[test]
fn a_queue_with_an_alternative_counts_the_second_pool_in_its_staffing() {
    let mut f = Floor::new();
    f.queue("billing", |q| q.required_skills = vec![skill("billing:5")]);
    f.agent("overflow", &[("overflow", 1)]);
    assert_eq!(f.engine.queue_snapshots()[0].agents_ready, 0);
    f.queue("billing", |q| {
        q.required_skills = vec![skill("billing:5")];
        q.alternatives = vec![vec![skill("overflow:1")]];
    });
    assert_eq!(f.engine.queue_snapshots()[0].agents_ready, 1);
}

#[test]
fn alternatives_that_are_empty_or_too_many_are_refused_and_change_nothing() {
    let mut f = Floor::new();
    f.queue("q", |_| {});
    let empty = f.enqueue_with("q", Channel::Voice, |c| c.alternatives = vec![vec![]]);
    assert!(matches!(empty, Err(CoreError::Invalid(_))), "{empty:?}");
    let many = f.enqueue_with("q", Channel::Voice, |c| {
        c.alternatives = (0..5).map(|i| vec![skill(&format!("s{i}:1"))]).collect()
    });
    assert!(matches!(many, Err(CoreError::Invalid(_))), "{many:?}");
    let mut q = QueueConfig::new("q");
    q.relaxation = vec![queue::RelaxStep {
        after_secs: 5,
        action: queue::Relax::Widen { skills: vec![] },
    }];
    assert!(f.apply(Command::PutQueue(Box::new(q))).is_err());
    assert_eq!(f.engine.queue_snapshots()[0].counters.offered, 0);
}

#[test]
fn agent_views_say_since_when_and_what_each_agent_holds() {
    let mut f = Floor::new();
    f.queue("q", |q| {
        q.offer_timeout_secs = 30;
        q.wrap_up_secs = 10;
    });
    f.agent("a", &[]);
    let created = f.now;
    assert_eq!(f.engine.agent_view("a").unwrap().state_since, created);
    f.wait(5.0);
    f.presence("a", Presence::Ready);
    let ready_at = f.now;
    f.wait(5.0);
    let c = f.enqueue("q", Channel::Chat);
    let offered_at = f.now;
    let view = f.engine.agent_view("a").unwrap();
    assert_eq!(view.state_since, offered_at, "busy from the offer");
    assert!(ready_at < offered_at);
    assert_eq!(view.holding.len(), 1);
    let held = &view.holding[0];
    assert_eq!(
        (held.contact, &*held.queue, held.channel),
        (c, "q", Channel::Chat)
    );
    assert_eq!(held.answered_at, None);
    assert_eq!(held.ringing_until, Some(offered_at + 30_000));
    f.wait(2.0);
    f.accept(c);
    let view = f.engine.agent_view("a").unwrap();
    assert_eq!(view.state_since, offered_at, "still busy");
    assert_eq!(view.holding[0].answered_at, Some(f.now));
    assert_eq!(view.holding[0].ringing_until, None);
    f.wait(60.0);
    f.complete(c);
    let view = f.engine.agent_view("a").unwrap();
    assert_eq!(view.state_since, f.now, "wrap-up from the completion");
    assert!(view.holding.is_empty());
}
