//! Desks: the simulated agents' part — shifts, answers to offers (accept or decline, after a
//! delay), handling to completion, and reacting to what the engine decided.

use super::*;

pub(super) struct SimAgent {
    pub(super) id: Arc<str>,
    pub(super) group: usize,
    /// Past the end of the shift: logs off when the last contact is done.
    pub(super) leaving: bool,
}

impl Run<'_> {
    pub(super) fn group_agents(&self, g: usize) -> Vec<usize> {
        (0..self.agents.len())
            .filter(|&a| self.agents[a].group == g)
            .collect()
    }

    pub(super) fn set_presence(
        &mut self,
        a: usize,
        presence: Presence,
        at: Millis,
    ) -> anyhow::Result<()> {
        let agent = self.agents[a].id.to_string();
        self.apply(Command::SetPresence { agent, presence }, at)?;
        Ok(())
    }

    pub(super) fn answer(&mut self, at: Millis, contact: ContactId, a: usize, accept: bool) {
        let agent = self.agents[a].id.to_string();
        let command = if accept {
            Command::Accept { contact, agent }
        } else {
            Command::Reject { contact, agent }
        };
        // The customer may have hung up, or the offer timed out, while the agent answered.
        let _ = self.apply(command, at);
    }

    pub(super) fn complete(&mut self, at: Millis, id: ContactId) -> anyhow::Result<()> {
        let Some(view) = self.engine.contact_view(id) else {
            return Ok(());
        };
        let Some(agent) = view.state.agent() else {
            return Ok(());
        };
        let a = self.agent_index[agent];
        // Work an interruption paused is put back by the pause: finished that much later, or,
        // while still paused, that much after the interruption ends.
        let paused = view.paused_ms + view.paused_since.map_or(0, |s| at.saturating_sub(s));
        if let Some(p) = self.pending.get_mut(&id)
            && paused > p.pause_seen_ms
        {
            let owed = paused - p.pause_seen_ms;
            p.pause_seen_ms = paused;
            if view.paused_since.is_some() {
                self.paused_due.entry(a).or_default().push((id, owed));
            } else {
                self.calendar.push(at + owed, Happening::Completion(id));
            }
            return Ok(());
        }
        let interrupting = view.interrupting;
        let agent: Arc<str> = self.agents[a].id.clone();
        let group_rate = self.scenario.groups[self.agents[a].group].resolution_rate;
        let Some(p) = self.pending.get(&id) else {
            anyhow::bail!("contact {id} completes without a record of its arrival");
        };
        // Meeting the agent who handled the conversation before may change the odds.
        let rate = p
            .familiar
            .as_ref()
            .filter(|f| f.agent == agent)
            .and_then(|f| f.resolution_rate)
            .unwrap_or(group_rate);
        let resolved = p.resolve_draw < rate;
        let (traffic, conversation, first) = (p.traffic, p.conversation, p.familiar.is_none());
        if let Some(work) = p.transfer_work {
            let to = self.scenario.traffic[traffic]
                .transfer
                .as_ref()
                .expect("a contact to transfer comes from a traffic that transfers")
                .queue
                .clone();
            // A bot's transfer is an escalation to people, with what it learnt.
            let transfer = if self.scenario.groups[self.agents[a].group].kind == AgentKind::Bot {
                Command::Escalate {
                    contact: id,
                    agent: agent.to_string(),
                    queue: to,
                    summary: "simulated bot summary".into(),
                    fields: Default::default(),
                    required_skills: Vec::new(),
                }
            } else {
                Command::Transfer {
                    contact: id,
                    agent: agent.to_string(),
                    queue: to,
                    required_skills: Vec::new(),
                    reason: "simulated transfer".into(),
                    to_agent: None,
                }
            };
            match self.apply(transfer, at) {
                Ok(_) => {
                    let p = self.pending.get_mut(&id).expect("pending");
                    p.work_secs = work;
                    p.transfer_work = None;
                    p.patient = true;
                    p.pause_seen_ms = 0;
                    if interrupting {
                        self.resume(a, at);
                    }
                    return self.log_off_when_done(a, at);
                }
                // The target queue is full: the first agent finishes the contact instead.
                Err(CoreError::QueueFull { .. }) => {}
                Err(e) => return Err(anyhow::Error::from(e).context("a simulated transfer")),
            }
        }
        if first {
            let q = self.queue_index[self.scenario.traffic[traffic].queue.as_str()];
            let returns = self.measurements.returns(q);
            returns.first_completed += 1;
            returns.first_resolved += u64::from(resolved);
        }
        if let Some(key) = conversation {
            self.plan_repeat(at, key, traffic, &agent, resolved);
        }
        let complete = Command::Complete {
            contact: id,
            agent: agent.to_string(),
            outcome: Outcome {
                resolved,
                ..Outcome::default()
            },
        };
        self.apply(complete, at)?;
        if interrupting {
            self.resume(a, at);
        }
        self.log_off_when_done(a, at)
    }

    /// The contact interrupting agent `a` is gone: the work that came due while paused
    /// finishes after what it still needs.
    fn resume(&mut self, a: usize, at: Millis) {
        for (id, owed) in self.paused_due.remove(&a).unwrap_or_default() {
            if let (Some(view), Some(p)) = (self.engine.contact_view(id), self.pending.get_mut(&id))
            {
                p.pause_seen_ms = view.paused_ms;
                self.calendar.push(at + owed, Happening::Completion(id));
            }
        }
    }

    /// An agent past the end of its shift logs off once it holds nothing.
    fn log_off_when_done(&mut self, a: usize, at: Millis) -> anyhow::Result<()> {
        let done = self
            .engine
            .agent_view(&self.agents[a].id)
            .is_some_and(|v| v.load == 0);
        if self.agents[a].leaving && done {
            self.set_presence(a, Presence::Offline, at)?;
        }
        Ok(())
    }

    /// Plays the simulated desktops' part in what the engine just did, until it is quiet.
    pub(super) fn settle(&mut self) -> anyhow::Result<()> {
        let mut events = Vec::new();
        loop {
            self.engine.drain_events(&mut events);
            if events.is_empty() {
                return Ok(());
            }
            let now = self.engine.now();
            for event in std::mem::take(&mut events) {
                match event.body {
                    EventBody::Decision(d) => {
                        let a = self.agent_index[&d.agent];
                        let group = &self.scenario.groups[self.agents[a].group];
                        let accept = self.desk.random::<f64>() < group.accept_probability;
                        let delay = ms(group.answer_delay_secs);
                        if delay == 0 {
                            self.answer(now, d.contact, a, accept);
                        } else {
                            let answer = Happening::Answer(d.contact, a, accept);
                            self.calendar.push(now + delay, answer);
                        }
                    }
                    EventBody::OfferAccepted {
                        contact,
                        agent,
                        queue,
                        waited_ms,
                    } => {
                        let q = self.queue_index[&queue];
                        // A callback's customer was off the line: not a wait in it.
                        let on_line = self
                            .engine
                            .contact_view(contact)
                            .is_none_or(|c| c.callback.is_none());
                        if on_line {
                            self.measurements.wait(q, waited_ms);
                        }
                        if let Some(estimates) = self
                            .pending
                            .get(&contact)
                            .and_then(|p| p.estimates)
                            .filter(|_| on_line)
                        {
                            self.measurements.estimated(q, waited_ms, estimates);
                        }
                        let mut factor = self.scenario.groups
                            [self.agents[self.agent_index[&agent]].group]
                            .handle_factor;
                        let p = self.pending.get(&contact);
                        if let Some(f) = p.and_then(|p| p.familiar.as_ref()) {
                            let returns = self.measurements.returns(q);
                            returns.repeats_answered += 1;
                            if f.agent == agent {
                                returns.repeats_answered_familiar += 1;
                                factor *= f.handle_factor;
                            }
                        }
                        // A contact the agent will transfer: only the part before the transfer.
                        let before_transfer = p
                            .filter(|p| p.transfer_work.is_some())
                            .and_then(|p| self.scenario.traffic[p.traffic].transfer.as_ref())
                            .map_or(1.0, |x| x.after_share);
                        let work = p.map_or(0.0, |p| p.work_secs) * before_transfer;
                        let handle = ms(work * factor).max(1);
                        self.calendar
                            .push(now + handle, Happening::Completion(contact));
                    }
                    EventBody::ContactEnded { contact, .. } => {
                        if contact.state == ContactState::Abandoned {
                            let waited = contact
                                .ended_at
                                .unwrap_or(now)
                                .saturating_sub(contact.enqueued_at);
                            self.measurements
                                .wait(self.queue_index[&*contact.queue], waited);
                        }
                        let ended = self.pending.remove(&contact.id);
                        // A customer who hung up (or was turned away) ends the conversation.
                        if !matches!(contact.state, ContactState::Completed { .. })
                            && let Some(key) = ended.and_then(|p| p.conversation)
                        {
                            self.conversations.remove(&key);
                        }
                    }
                    EventBody::AgentStateChanged { agent } => {
                        if let PresenceView::NotReady(reason) = &agent.presence
                            && reason != END_OF_SHIFT
                            && let Some(&a) = self.agent_index.get(&agent.spec.id)
                        {
                            self.calendar
                                .push(now + ms(BACK_TO_READY_SECS), Happening::BackToReady(a));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
