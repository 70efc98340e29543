//! Customers: arrivals drawn from each traffic's rate, what each contact brings with it (work,
//! patience, whether it will be resolved), and conversations whose customers come back (repeats)
//! to the agent they met before, or to another.

use super::*;

/// What a contact brought with it when it arrived.
pub(super) struct Pending {
    /// Handle time before the answering group's factor.
    pub(super) work_secs: f64,
    /// Resolved when below the answering group's resolution rate.
    pub(super) resolve_draw: f64,
    /// The traffic it belongs to (for a repeat, the one it came back as).
    pub(super) traffic: usize,
    /// The conversation it belongs to, when its traffic's contacts can come back.
    pub(super) conversation: Option<ConversationKey>,
    /// For a repeat: the agent who handled the contact before, and what meeting them changes.
    pub(super) familiar: Option<Familiar>,
    /// Every estimator's wait estimate when it joined the line (`None`: offered at once).
    pub(super) estimates: Option<[Option<u64>; 4]>,
    /// The second agent's work, while the first agent is still to transfer it.
    pub(super) transfer_work: Option<f64>,
    /// The customer asked for a callback (no longer on the line), or was transferred (waits for
    /// the second agent): either way the patience drawn at arrival no longer applies.
    pub(super) patient: bool,
    /// Time an interruption paused it that its completion has already been put back for.
    pub(super) pause_seen_ms: u64,
}

/// A conversation: the traffic that started it and its number among that traffic's contacts.
pub(super) type ConversationKey = (usize, u64);

/// A conversation whose customer may come back.
pub(super) struct Conversation {
    /// Every draw about its repeats (whether, when, patience, work, resolution).
    pub(super) rng: ChaCha8Rng,
    pub(super) id: Arc<str>,
    pub(super) customer: Option<Arc<str>>,
    pub(super) value: f64,
    pub(super) repeats: u32,
    /// The repeat on its way: the traffic it comes back as, and who handled it last.
    pub(super) next: Option<(usize, Familiar)>,
}

/// The agent a repeat would meet again, and what that changes.
#[derive(Clone)]
pub(super) struct Familiar {
    pub(super) agent: Arc<str>,
    pub(super) handle_factor: f64,
    pub(super) resolution_rate: Option<f64>,
}

impl Run<'_> {
    pub(super) fn arrive(&mut self, at: Millis, i: usize) -> anyhow::Result<()> {
        let traffic = &self.scenario.traffic[i];
        let stream = &mut self.streams[i];
        let now_secs = (at - START) as f64 / 1000.0;
        if let Some(next) = next_arrival(
            now_secs,
            &traffic.per_hour,
            self.scenario.interval_secs,
            &mut stream.rng,
        ) {
            self.calendar
                .push((START + ms(next)).max(at + 1), Happening::Arrival(i));
        }
        // In this order: patience, value, work, resolution, then the customer.
        let patience = stream.patience.map(|p| p.sample(&mut stream.rng));
        let value = pick_value(&traffic.value_mix, &mut stream.rng);
        let mut draws = Draws {
            patience,
            work_secs: stream.handle.sample(&mut stream.rng),
            resolve_draw: stream.rng.random(),
            transfer_work: None,
            callback_after: None,
        };
        let customer: Option<Arc<str>> = self.bases[i].map(|b| {
            let base = &self.scenario.customer_bases[b];
            let k = stream.rng.random_range(0..base.customers);
            format!("{}-{k}", base.name).into()
        });
        draws.share_draws(traffic, &stream.handle, &mut stream.rng);
        let number = self.first_contacts[i];
        self.first_contacts[i] += 1;
        let key = (i, number);
        let conversation = traffic.repeat.is_some().then(|| Conversation {
            rng: conversation_rng(self.scenario.seed, i, number),
            id: format!("conversation-{i}-{number}").into(),
            customer: customer.clone(),
            value,
            repeats: 0,
            next: None,
        });
        let linked = conversation.as_ref().map(|c| (key, c.id.clone()));
        let enqueued = self.enqueue(at, i, draws, value, customer, linked, None)?;
        if enqueued && let Some(c) = conversation {
            self.conversations.insert(key, c);
        }
        Ok(())
    }

    /// A conversation's customer comes back, as its planned repeat.
    pub(super) fn come_back(&mut self, at: Millis, key: ConversationKey) -> anyhow::Result<()> {
        let Some(c) = self.conversations.get_mut(&key) else {
            return Ok(());
        };
        let Some((traffic, familiar)) = c.next.take() else {
            return Ok(());
        };
        let stream = &self.streams[traffic];
        let mut draws = Draws {
            patience: stream.patience.map(|p| p.sample(&mut c.rng)),
            work_secs: stream.handle.sample(&mut c.rng),
            resolve_draw: c.rng.random(),
            transfer_work: None,
            callback_after: None,
        };
        draws.share_draws(&self.scenario.traffic[traffic], &stream.handle, &mut c.rng);
        let (value, customer, id) = (c.value, c.customer.clone(), c.id.clone());
        let linked = Some((key, id));
        if self.enqueue(at, traffic, draws, value, customer, linked, Some(familiar))? {
            let q = self.queue_index[self.scenario.traffic[traffic].queue.as_str()];
            self.measurements.returns(q).repeats += 1;
        } else {
            // Turned away at the door: the customer gives up.
            self.conversations.remove(&key);
        }
        Ok(())
    }

    /// Puts a contact of `traffic` to the engine, linked to its conversation (key and id) if it
    /// has one; false when the queue refused it at the door.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enqueue(
        &mut self,
        at: Millis,
        traffic: usize,
        draws: Draws,
        value: f64,
        customer: Option<Arc<str>>,
        conversation: Option<(ConversationKey, Arc<str>)>,
        familiar: Option<Familiar>,
    ) -> anyhow::Result<bool> {
        let t = &self.scenario.traffic[traffic];
        let mut contact = NewContact::new(&t.queue, t.channel);
        contact.required_skills = t.required_skills.clone();
        contact.alternatives = t.alternatives.clone();
        contact.customer_value = value;
        if let Some(customer) = &customer {
            contact.customer_id = customer.to_string();
        }
        let key = conversation.as_ref().map(|(key, _)| *key);
        if let Some((_, id)) = &conversation {
            contact.conversation_id = id.to_string();
        }
        match self.apply(Command::Enqueue(contact), at) {
            Ok(Applied::Enqueued { contact, .. }) => {
                let estimates = self.engine.wait_estimates(contact.id).map(|(_, e)| e);
                self.pending.insert(
                    contact.id,
                    Pending {
                        work_secs: draws.work_secs,
                        resolve_draw: draws.resolve_draw,
                        traffic,
                        conversation: key,
                        familiar,
                        estimates,
                        transfer_work: draws.transfer_work,
                        patient: false,
                        pause_seen_ms: 0,
                    },
                );
                if let Some(after) = draws.patience {
                    self.calendar
                        .push(at + ms(after), Happening::Patience(contact.id));
                }
                if let Some(after) = draws.callback_after {
                    self.calendar
                        .push(at + ms(after), Happening::CallbackOptIn(contact.id));
                }
                Ok(true)
            }
            // Refused at the door (queue full): the engine counted it; nothing more to do.
            Err(CoreError::QueueFull { .. }) => Ok(false),
            // Anything else means the scenario let through what the engine refuses: say so
            // rather than lose the traffic.
            Err(e) => Err(anyhow::Error::from(e).context("the engine refused a simulated contact")),
            Ok(other) => anyhow::bail!("an enqueue answered {other:?}"),
        }
    }

    /// A contact of `key`'s conversation, of `traffic`, ends with `agent`: unresolved, its
    /// customer may come back as the traffic's `repeat` says; otherwise the conversation ends.
    pub(super) fn plan_repeat(
        &mut self,
        at: Millis,
        key: ConversationKey,
        traffic: usize,
        agent: &Arc<str>,
        resolved: bool,
    ) {
        let spec = self.scenario.traffic[traffic].repeat.as_ref();
        let Some(c) = self.conversations.get_mut(&key) else {
            return;
        };
        let again = match spec {
            Some(r) if !resolved && c.repeats < MAX_REPEATS => {
                let comes_back = c.rng.random::<f64>() < r.share;
                let after: f64 = Exp1.sample(&mut c.rng);
                comes_back.then_some((r, after * r.mean_after_secs))
            }
            _ => None,
        };
        let Some((r, after_secs)) = again else {
            self.conversations.remove(&key);
            return;
        };
        let target = self
            .scenario
            .traffic_for(&r.queue, r.channel)
            .expect("a validated scenario has traffic for every repeat");
        c.repeats += 1;
        c.next = Some((
            target,
            Familiar {
                agent: agent.clone(),
                handle_factor: r.familiar_handle_factor,
                resolution_rate: r.familiar_resolution_rate,
            },
        ));
        self.calendar
            .push(at + ms(after_secs).max(1), Happening::Repeat(key.0, key.1));
    }
}
