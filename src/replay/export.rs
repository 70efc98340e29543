//! A scenario fitted to a recording (`routerd replay --export-scenario FILE`), so the simulator
//! can extrapolate from the day the floor really had: 20 % more traffic, a longer day, another
//! mix of agents.
//!
//! What is fitted, and how:
//! - traffic: one per (queue, channel, requirements) of the contacts that arrived, with its
//!   arrivals per interval as rates per hour; handling log-normal with the mean and standard
//!   deviation of its completed first legs, each divided by its agent's speed index (the group's
//!   `handle_factor` puts it back); patience exponential with the censored-data maximum
//!   likelihood mean (time waited in first waits ÷ abandonments), none without abandonment;
//!   customer values as a mix (at most eight values, the most frequent, else their mean);
//! - groups: agents with the same skills, capacity and channel limits (their last definition),
//!   with the group's mean speed index, share of completions resolved, share of offers
//!   accepted and mean delay to accept; a shift from the median first ready to the median last
//!   going offline, when that is not the whole recording.
//!
//! Cost: one pass over the recorded contacts and the floor's commands.
//!
//! Known limits: transfers, callbacks and repeats are not fitted (their traffic's contacts are
//! in the arrival rates; what became of them is not modelled); the skills each contact
//! required are kept only as its traffic's key.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use super::recording::{AnswerKind, LegEnd, Recorded, Recording};
use crate::core::{AgentSpec, Command, Presence, SkillLevel};

fn skill_list(skills: &[SkillLevel]) -> Vec<String> {
    skills
        .iter()
        .map(|k| format!("{}:{}", k.skill, k.level.get()))
        .collect()
}

fn toml_strings(list: &[String]) -> String {
    let quoted: Vec<String> = list
        .iter()
        .map(|s| toml::Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn median(xs: &mut [f64]) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

/// The recording as a scenario file the simulator loads.
pub fn scenario_toml(rec: &Recording) -> anyhow::Result<String> {
    let hours = (rec.end - rec.start) as f64 / 3_600_000.0;
    anyhow::ensure!(hours > 0.0, "the recording spans no time: nothing to fit");
    let interval_hours = rec.interval_ms as f64 / 3_600_000.0;
    let intervals = ((rec.end - rec.start) as f64 / rec.interval_ms as f64)
        .ceil()
        .max(1.0) as usize;
    let speed = |a: &str| rec.speed.get(a).copied().unwrap_or(1.0);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Fitted by `routerd replay --export-scenario` to the journal {}\n# ({} records, {} contacts, {:.2} h).",
        rec.name,
        rec.records,
        rec.contacts.len(),
        hours
    );
    let base = std::path::Path::new(&rec.name)
        .file_name()
        .map_or(rec.name.clone(), |n| n.to_string_lossy().into_owned());
    let _ = writeln!(
        out,
        "name = {}",
        toml::Value::String(format!("fitted-{base}"))
    );
    let _ = writeln!(out, "seed = 1");
    let _ = writeln!(out, "hours = {hours}");
    let _ = writeln!(
        out,
        "interval_minutes = {}",
        rec.interval_ms as f64 / 60_000.0
    );

    for q in rec.queue_configs() {
        let mut table = toml::Table::new();
        table.insert(
            "queues".into(),
            toml::Value::Array(vec![toml::Value::try_from(&q)?]),
        );
        let _ = write!(out, "\n{}", toml::to_string(&table)?);
    }

    // Traffic, keyed by queue, channel and requirements.
    type Key = (String, String, Vec<String>, Vec<Vec<String>>);
    let mut traffic: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, c) in rec.contacts.iter().enumerate() {
        let key = (
            c.new.queue.clone(),
            c.new.channel.to_string(),
            skill_list(&c.new.required_skills),
            c.new.alternatives.iter().map(|a| skill_list(a)).collect(),
        );
        traffic.entry(key).or_default().push(i);
    }
    let queues: Vec<String> = rec
        .queue_configs()
        .iter()
        .map(|q| q.name.to_string())
        .collect();
    for ((queue, channel, skills, alternatives), members) in &traffic {
        if !queues.contains(queue) {
            continue;
        }
        let mut per_interval = vec![0.0; intervals];
        let (mut waited, mut abandoned) = (0.0, 0u64);
        let mut work = Vec::new();
        let mut values: HashMap<u64, u64> = HashMap::new();
        for &i in members {
            let c = &rec.contacts[i];
            let k = (c.arrived.saturating_sub(rec.start) / rec.interval_ms) as usize;
            per_interval[k.min(intervals - 1)] += 1.0 / interval_hours;
            *values.entry(c.new.customer_value.to_bits()).or_default() += 1;
            if c.id.is_none() {
                continue;
            }
            match c.abandoned_after {
                Some(w) => {
                    waited += w as f64;
                    abandoned += 1;
                }
                None => waited += c.waited_at_least as f64,
            }
            if let Some(leg) = c.legs.first()
                && matches!(leg.end, LegEnd::Complete(_))
            {
                work.push(leg.duration_ms as f64 / 1000.0 / speed(&leg.agent));
            }
        }
        let _ = writeln!(out, "\n[[traffic]]");
        let _ = writeln!(out, "queue = {}", toml::Value::String(queue.clone()));
        let _ = writeln!(out, "channel = {}", toml::Value::String(channel.clone()));
        let rates: Vec<String> = per_interval.iter().map(|r| format!("{r:.2}")).collect();
        let _ = writeln!(out, "per_interval = [{}]", rates.join(", "));
        if !skills.is_empty() {
            let _ = writeln!(out, "skills = {}", toml_strings(skills));
        }
        if !alternatives.is_empty() {
            let sets: Vec<String> = alternatives.iter().map(|a| toml_strings(a)).collect();
            let _ = writeln!(out, "alternatives = [{}]", sets.join(", "));
        }
        let (mean, sd) = mean_sd(&work);
        let mean = if work.is_empty() {
            180.0
        } else {
            mean.max(1.0)
        };
        if work.len() >= 2 && sd > 0.0 {
            let _ = writeln!(
                out,
                "handle = {{ distribution = \"log-normal\", mean_seconds = {mean:.1}, sd_seconds = {sd:.1} }}"
            );
        } else {
            let _ = writeln!(
                out,
                "handle = {{ distribution = \"exponential\", mean_seconds = {mean:.1} }}"
            );
        }
        if abandoned > 0 {
            let patience = (waited / abandoned as f64 / 1000.0).max(1.0);
            let _ = writeln!(
                out,
                "patience = {{ distribution = \"exponential\", mean_seconds = {patience:.1} }}"
            );
        }
        let mut mix: Vec<(f64, u64)> = values
            .into_iter()
            .map(|(v, n)| (f64::from_bits(v), n))
            .collect();
        mix.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
        let total: u64 = mix.iter().map(|(_, n)| n).sum();
        if mix.len() > 8 {
            let mean = mix.iter().map(|(v, n)| v * *n as f64).sum::<f64>() / total as f64;
            mix = vec![(mean, total)];
        }
        if mix.iter().any(|(v, _)| *v != 0.0) {
            let shares: Vec<String> = mix
                .iter()
                .map(|(v, n)| format!("{{ value = {v}, share = {:.4} }}", *n as f64 / total as f64))
                .collect();
            let _ = writeln!(out, "value_mix = [{}]", shares.join(", "));
        }
    }

    // Groups: agents alike in skills, capacity and channel limits.
    let mut specs: HashMap<Arc<str>, AgentSpec> = HashMap::new();
    let mut first_ready: HashMap<Arc<str>, u64> = HashMap::new();
    let mut last_offline: HashMap<Arc<str>, u64> = HashMap::new();
    for (at, _, entry) in &rec.timeline {
        let Recorded::Floor(command) = entry else {
            continue;
        };
        let since = at.saturating_sub(rec.start);
        match &**command {
            Command::PutAgent(spec) => {
                specs.insert(spec.id.clone(), spec.clone());
            }
            Command::SetPresence { agent, presence } => {
                let agent: Arc<str> = agent.as_str().into();
                match presence {
                    Presence::Offline => {
                        last_offline.insert(agent, since);
                    }
                    _ => {
                        first_ready.entry(agent.clone()).or_insert(since);
                        last_offline.remove(&agent);
                    }
                }
            }
            Command::Session {
                agent,
                attached: false,
            } => {
                last_offline.insert(agent.as_str().into(), since);
            }
            _ => {}
        }
    }
    let mut groups: BTreeMap<String, Vec<Arc<str>>> = BTreeMap::new();
    for agent in &rec.agents {
        let Some(spec) = specs.get(agent) else {
            continue;
        };
        let mut skills = skill_list(&spec.skills);
        skills.sort();
        let limits: Vec<String> = spec
            .channel_limits
            .iter()
            .map(|(c, n)| format!("{c}={n}"))
            .collect();
        let key = format!(
            "{}|{:?}|{}",
            skills.join(","),
            spec.capacity,
            limits.join(",")
        );
        groups.entry(key).or_default().push(agent.clone());
    }
    for (g, members) in groups.values().enumerate() {
        let spec = &specs[&members[0]];
        let mean_of = |f: &dyn Fn(&Arc<str>) -> Option<f64>| {
            let xs: Vec<f64> = members.iter().filter_map(f).collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        };
        let handle_factor = mean_of(&|a| rec.speed.get(a).copied()).unwrap_or(1.0);
        let resolution = mean_of(&|a| rec.resolution.get(a).copied()).unwrap_or(1.0);
        let answers: Vec<_> = members
            .iter()
            .flat_map(|a| rec.answers.get(a).into_iter().flatten())
            .collect();
        let accepted: Vec<f64> = answers
            .iter()
            .filter(|a| a.kind == AnswerKind::Accept)
            .map(|a| a.delay_ms as f64 / 1000.0)
            .collect();
        let accept_share = if answers.is_empty() {
            1.0
        } else {
            accepted.len() as f64 / answers.len() as f64
        };
        let _ = writeln!(out, "\n[[groups]]");
        let _ = writeln!(out, "name = \"group-{}\"", g + 1);
        let _ = writeln!(out, "count = {}", members.len());
        let _ = writeln!(out, "skills = {}", toml_strings(&skill_list(&spec.skills)));
        if let Some(capacity) = spec.capacity {
            let _ = writeln!(out, "capacity = {capacity}");
        }
        if !spec.channel_limits.is_empty() {
            let limits: Vec<String> = spec
                .channel_limits
                .iter()
                .map(|(c, n)| format!("{c} = {n}"))
                .collect();
            let _ = writeln!(out, "channel_limits = {{ {} }}", limits.join(", "));
        }
        let _ = writeln!(out, "handle_factor = {handle_factor:.3}");
        let _ = writeln!(out, "resolution_rate = {:.3}", resolution.clamp(0.0, 1.0));
        let _ = writeln!(
            out,
            "accept_probability = {:.3}",
            accept_share.clamp(0.0, 1.0)
        );
        if !accepted.is_empty() {
            let _ = writeln!(out, "answer_delay_seconds = {:.2}", mean_sd(&accepted).0);
        }
        let mut starts: Vec<f64> = members
            .iter()
            .filter_map(|a| first_ready.get(a))
            .map(|ms| *ms as f64 / 3_600_000.0)
            .collect();
        let mut ends: Vec<f64> = members
            .iter()
            .filter_map(|a| last_offline.get(a))
            .map(|ms| *ms as f64 / 3_600_000.0)
            .collect();
        let start = median(&mut starts).unwrap_or(0.0);
        let end = if ends.len() * 2 > members.len() {
            median(&mut ends).unwrap_or(hours)
        } else {
            hours
        };
        if (start > 0.01 || end < hours - 0.01) && end > start {
            let _ = writeln!(
                out,
                "shift = {{ start_hour = {start:.3}, end_hour = {end:.3} }}"
            );
        }
    }
    // It must load as the simulator reads it.
    crate::sim::Scenario::from_toml(&out)
        .map_err(|e| anyhow::anyhow!("the fitted scenario does not load ({e:#}):\n{out}"))?;
    Ok(out)
}
