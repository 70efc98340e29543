//! Plain values of the routing domain: time, channels, skills and their levels, requirements.
//!
//! Invariants kept here: a [`Level`] is always 1–10; a [`SkillName`] is always a valid, non-empty
//! name. Anything that holds one of these has already been validated.

use std::fmt;
use std::sync::Arc;

use super::error::CoreError;

/// Engine time: milliseconds since the Unix epoch. The core never reads a clock; every input
/// carries its `now`.
pub type Millis = u64;

/// Identifier of a contact, assigned by the engine in enqueue order (1, 2, 3…). Also the contact's
/// enqueue sequence, which breaks ties between contacts deterministically.
pub type ContactId = u64;

/// The engine's hash maps: std's map with foldhash instead of SipHash, which was about a tenth
/// of `routing/agent_frees` (contact, agent and queue ids are hashed on every decision).
/// Seeded per process as std's is, so no order can be relied on; foldhash's `fast` variant
/// trades some of SipHash's resistance to chosen keys for speed. The hasher is not part of an
/// image's format (the checked-in journal fixture still recovers identically).
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A pending deadline in the engine: its time and a sequence number that makes it unique.
pub type TimerKey = (Millis, u64);

/// The medium a contact arrives on.
#[derive(
    serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Voice,
    Video,
    Email,
    Chat,
    Sms,
    Social,
    Callback,
}

impl Channel {
    pub const ALL: [Channel; 7] = [
        Channel::Voice,
        Channel::Video,
        Channel::Email,
        Channel::Chat,
        Channel::Sms,
        Channel::Social,
        Channel::Callback,
    ];
    pub const COUNT: usize = 7;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Video => "video",
            Channel::Email => "email",
            Channel::Chat => "chat",
            Channel::Sms => "sms",
            Channel::Social => "social",
            Channel::Callback => "callback",
        }
    }

    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What each channel costs out of an agent's capacity. Written as a table by channel name
/// (`voice = 100`, `chat = 33`, …); a channel left out keeps its default cost.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(from = "CostsForm", into = "CostsForm")]
pub struct ChannelCosts([u32; Channel::COUNT]);

/// [`ChannelCosts`] as written.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CostsForm {
    voice: u32,
    video: u32,
    email: u32,
    chat: u32,
    sms: u32,
    social: u32,
    callback: u32,
}

impl Default for CostsForm {
    fn default() -> Self {
        ChannelCosts::default().into()
    }
}

impl From<ChannelCosts> for CostsForm {
    fn from(c: ChannelCosts) -> CostsForm {
        let cost = |channel| c.cost(channel);
        CostsForm {
            voice: cost(Channel::Voice),
            video: cost(Channel::Video),
            email: cost(Channel::Email),
            chat: cost(Channel::Chat),
            sms: cost(Channel::Sms),
            social: cost(Channel::Social),
            callback: cost(Channel::Callback),
        }
    }
}

impl From<CostsForm> for ChannelCosts {
    fn from(f: CostsForm) -> ChannelCosts {
        let mut c = ChannelCosts::default();
        for (channel, cost) in [
            (Channel::Voice, f.voice),
            (Channel::Video, f.video),
            (Channel::Email, f.email),
            (Channel::Chat, f.chat),
            (Channel::Sms, f.sms),
            (Channel::Social, f.social),
            (Channel::Callback, f.callback),
        ] {
            c.set(channel, cost);
        }
        c
    }
}

impl ChannelCosts {
    pub fn new(costs: [u32; Channel::COUNT]) -> Self {
        ChannelCosts(costs)
    }
    pub fn cost(&self, channel: Channel) -> u32 {
        self.0[channel.index()]
    }
    pub fn set(&mut self, channel: Channel, cost: u32) {
        self.0[channel.index()] = cost;
    }
}

impl Default for ChannelCosts {
    /// voice 100, video 100, email 50, chat 33, sms 25, social 25, callback 100: with a capacity
    /// of 100 an agent holds one call, two emails, three chats or four SMS conversations.
    /// (Chat is 33, not 34: three chats at 34 would need 102 units, more than the capacity.)
    fn default() -> Self {
        ChannelCosts([100, 100, 50, 33, 25, 25, 100])
    }
}

/// A skill level, 1 (novice) to 10 (expert).
#[derive(
    serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub struct Level(u8);

impl Level {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 10;

    pub fn new(level: u32) -> Result<Level, CoreError> {
        if (Level::MIN as u32..=Level::MAX as u32).contains(&level) {
            Ok(Level(level as u8))
        } else {
            Err(CoreError::invalid(format!(
                "skill level {level} is out of range 1-10"
            )))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A skill's name: 1–64 characters of `a-z 0-9 : _ . -`, e.g. `billing` or `lang:es`.
#[derive(
    serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub struct SkillName(Arc<str>);

impl SkillName {
    pub const MAX_LEN: usize = 64;

    pub fn new(name: &str) -> Result<SkillName, CoreError> {
        let ok_char = |c: char| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '_' | '.' | '-')
        };
        if name.is_empty() || name.len() > Self::MAX_LEN || !name.chars().all(ok_char) {
            return Err(CoreError::invalid(format!(
                "skill name {name:?} must be 1-64 characters of a-z, 0-9, ':', '_', '.', '-'"
            )));
        }
        Ok(SkillName(name.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SkillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A skill with a level: an agent's proficiency, or a requirement's minimum.
#[derive(
    serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub struct SkillLevel {
    pub skill: SkillName,
    pub level: Level,
}

impl SkillLevel {
    pub fn new(skill: &str, level: u32) -> Result<SkillLevel, CoreError> {
        Ok(SkillLevel {
            skill: SkillName::new(skill)?,
            level: Level::new(level)?,
        })
    }
}

/// Parses `name:level` (the last `:` separates the level), e.g. `billing:7`, `lang:es:9`.
impl std::str::FromStr for SkillLevel {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, level) = s
            .rsplit_once(':')
            .ok_or_else(|| CoreError::invalid(format!("skill {s:?} must be written name:level")))?;
        let level: u32 = level
            .parse()
            .map_err(|_| CoreError::invalid(format!("skill {s:?} has a non-numeric level")))?;
        SkillLevel::new(name, level)
    }
}

/// Checks that no skill appears twice.
///
/// Every enqueue runs it, so a short list (the usual: a handful of skills) is compared pair by
/// pair without allocating; a long one is sorted.
pub fn ensure_unique_skills(skills: &[SkillLevel], what: &str) -> Result<(), CoreError> {
    let twice = |name: &str| CoreError::invalid(format!("{what} names skill {name:?} twice"));
    if skills.len() <= 16 {
        for (i, a) in skills.iter().enumerate() {
            if skills[i + 1..].iter().any(|b| b.skill == a.skill) {
                return Err(twice(a.skill.as_str()));
            }
        }
        return Ok(());
    }
    let mut names: Vec<&str> = skills.iter().map(|s| s.skill.as_str()).collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(twice(w[0])),
        None => Ok(()),
    }
}

/// Validates an identifier (agent id, queue name): 1–128 characters, no control characters.
pub fn validate_id(id: &str, what: &str) -> Result<(), CoreError> {
    if id.is_empty() {
        return Err(CoreError::invalid(format!("{what} must not be empty")));
    }
    if id.len() > 128 {
        return Err(CoreError::invalid(format!(
            "{what} is {} bytes long; the limit is 128",
            id.len()
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(CoreError::invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_outside_one_to_ten_are_refused() {
        assert!(Level::new(0).is_err());
        assert!(Level::new(11).is_err());
        assert_eq!(Level::new(1).unwrap().get(), 1);
        assert_eq!(Level::new(10).unwrap().get(), 10);
    }

    #[test]
    fn a_skill_named_twice_is_refused_in_short_and_long_lists() {
        let list = |names: &[String]| -> Vec<SkillLevel> {
            names
                .iter()
                .map(|n| SkillLevel::new(n, 3).unwrap())
                .collect()
        };
        for len in [2, 3, 16, 17, 40] {
            let distinct: Vec<String> = (0..len).map(|i| format!("s{i}")).collect();
            assert!(
                ensure_unique_skills(&list(&distinct), "contact").is_ok(),
                "{len}"
            );
            for (first, second) in [(0, 1), (0, len - 1), (len / 2 - 1, len - 1)] {
                let mut names = distinct.clone();
                names[second] = names[first].clone();
                let refused = ensure_unique_skills(&list(&names), "contact").unwrap_err();
                assert!(
                    refused
                        .to_string()
                        .contains(&format!("contact names skill \"s{first}\" twice")),
                    "{len} ({first}, {second}): {refused}"
                );
            }
        }
        assert!(ensure_unique_skills(&[], "queue").is_ok());
    }

    #[test]
    fn skill_names_are_checked() {
        assert!(SkillName::new("lang:es").is_ok());
        assert!(SkillName::new("").is_err());
        assert!(SkillName::new("Billing").is_err());
        assert!(SkillName::new(&"a".repeat(65)).is_err());
    }

    #[test]
    fn skill_level_parses_with_last_colon() {
        let s: SkillLevel = "lang:es:9".parse().unwrap();
        assert_eq!(s.skill.as_str(), "lang:es");
        assert_eq!(s.level.get(), 9);
        assert!("billing".parse::<SkillLevel>().is_err());
        assert!("billing:x".parse::<SkillLevel>().is_err());
        assert!("billing:0".parse::<SkillLevel>().is_err());
    }

    #[test]
    fn default_costs_fit_one_call_two_emails_three_chats() {
        let c = ChannelCosts::default();
        assert_eq!(100 / c.cost(Channel::Voice), 1);
        assert_eq!(100 / c.cost(Channel::Email), 2);
        assert_eq!(100 / c.cost(Channel::Chat), 2 + 1);
    }
}
